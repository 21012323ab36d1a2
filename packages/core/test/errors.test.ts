import test from 'ava';
import { describeStep, errnoName, StepError, SyscallError } from '../src/index.js';
import { RecordingSyscalls } from '../src/testing/index.js';

test('errno names come from the system table', (t) => {
  t.is(errnoName(2), 'ENOENT');
  t.is(errnoName(1), 'EPERM');
});

test('step error names the step, plugin and errno', (t) => {
  const error = new StepError({ plugin: '@bulkhead/plugin-uts', index: 3, op: 'sethostname', summary: describeStep({ op: 'sethostname', name: 'x' }) }, 22);
  t.is(error.message, 'sethostname "x" (step 3, plugin @bulkhead/plugin-uts): EINVAL');
  t.is(error.errnoName, 'EINVAL');
  t.true(error.expected);
});

test('syscall error names the syscall, path and errno', (t) => {
  t.is(new SyscallError('mount', 2, '/nope').message, 'mount /nope: ENOENT');
  t.is(new SyscallError('pidfd_open', 3).message, 'pidfd_open: ESRCH');
});

test('recording fake records calls and fails on request', (t) => {
  const fake = new RecordingSyscalls();
  fake.mount('tmpfs', '/x', 'tmpfs', 0, null);
  fake.fail('umount2', 16);
  t.throws(() => fake.umount2('/x', 2), { message: 'umount2 /x: EBUSY' });
  t.deepEqual(fake.names(), ['mount', 'umount2']);
});

test('errno names missing from libuv come from the kernel table', (t) => {
  t.is(errnoName(10), 'ECHILD');
  t.is(errnoName(100000), 'errno 100000');
});
