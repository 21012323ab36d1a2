import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { constants } from 'node:os';
import test from 'ava';
import { BPF_CONSTANTS, libc } from '@bulkhead/core';
import { RecordingSyscalls } from '@bulkhead/core/testing';
import type { CgroupRecord } from '../src/index.js';
import { compileDeviceFilter } from '../src/device-filter.js';
import { attachDeviceFilter } from '../src/device-program.js';
import { DEFAULT_DEVICE_RULES, deviceRules } from '../src/devices.js';
import type { DeviceRule } from '../src/resources.js';
import { V2Driver } from '../src/v2.js';
import { FakeFs } from './fake-fs.js';

const { BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI } = BPF_CONSTANTS;
const DENY_ALL: DeviceRule = { allow: false, access: 'rwm' };
const NULL_ONLY: DeviceRule[] = [DENY_ALL, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }];
const V2: CgroupRecord = { version: 'v2', directories: { unified: '/sys/fs/cgroup/bulkhead/c1' }, mountpoints: { unified: '/sys/fs/cgroup' }, created: [] };

test('device program: load, attach, close', (t) => {
  const syscalls = new RecordingSyscalls();
  attachDeviceFilter(syscalls, '/cg/c1', NULL_ONLY);
  t.deepEqual(
    syscalls.calls.map((call) => [call.name, ...call.args]),
    [
      ['bpfProgLoad', BPF_PROG_TYPE_CGROUP_DEVICE, compileDeviceFilter(NULL_ONLY).length, 'Apache-2.0'],
      ['openDirectory', '/cg/c1'],
      ['bpfProgQuery', 101, BPF_CGROUP_DEVICE],
      ['bpfProgAttach', 101, 100, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI],
      ['close', 101],
      ['close', 100],
    ],
  );
});

test('device program: replacing detaches the old', (t) => {
  const syscalls = new RecordingSyscalls();
  syscalls.bpfAttached = [7];
  attachDeviceFilter(syscalls, '/cg/c1', NULL_ONLY);
  t.deepEqual(syscalls.names().slice(3), ['bpfProgAttach', 'bpfProgGetFdById', 'bpfProgDetach', 'close', 'close', 'close']);
  t.deepEqual(syscalls.calls[4]!.args, [7]);
  t.deepEqual(syscalls.calls[5]!.args, [101, 102, BPF_CGROUP_DEVICE]);
});

test('device program: failed load names the step', (t) => {
  const syscalls = new RecordingSyscalls();
  syscalls.fail('bpfProgLoad', constants.errno.EPERM);
  t.throws(() => attachDeviceFilter(syscalls, '/cg/c1', NULL_ONLY), { message: 'linux.resources.devices: BPF_PROG_LOAD failed: EPERM' });
  t.deepEqual(syscalls.names(), ['bpfProgLoad']);
});

test('device program: failed attach closes fds', (t) => {
  const syscalls = new RecordingSyscalls();
  syscalls.fail('bpfProgAttach', constants.errno.EBADF);
  t.throws(() => attachDeviceFilter(syscalls, '/cg/c1', NULL_ONLY), { message: 'linux.resources.devices: BPF_PROG_ATTACH to /cg/c1 failed: EBADF' });
  t.deepEqual(syscalls.names().slice(-2), ['close', 'close']);
});

test('v2 driver: device rules attach a program', (t) => {
  const syscalls = new RecordingSyscalls();
  new V2Driver(new FakeFs(), V2, () => undefined, syscalls).apply({ devices: [DENY_ALL] });
  const load = syscalls.calls.find((call) => call.name === 'bpfProgLoad')!;
  t.is(load.args[1], compileDeviceFilter(deviceRules([DENY_ALL])).length);
  t.deepEqual(syscalls.calls.find((call) => call.name === 'openDirectory')!.args, [V2.directories['unified']]);
});

test('v2 driver: no device rules, no program', (t) => {
  const syscalls = new RecordingSyscalls();
  new V2Driver(new FakeFs(), V2, () => undefined, syscalls).apply({ devices: [] });
  t.deepEqual(syscalls.calls, []);
});

// The real kernel: device programs attach to any cgroup2 directory, even one without controllers.

const cgroup2 = readFileSync('/proc/self/mounts', 'utf8')
  .split('\n')
  .map((line) => line.split(' '))
  .find((fields) => fields[2] === 'cgroup2')?.[1];
let skipReason: string | undefined;
if (process.getuid?.() !== 0) skipReason = 'they need root';
else if (cgroup2 === undefined) skipReason = 'no cgroup2 filesystem is mounted';
const kernelTest = skipReason === undefined ? test.serial : test.skip;
if (skipReason !== undefined) test(`device program kernel tests are skipped: ${skipReason}`, (t) => t.pass());

/** Makes a cgroup2 directory for one test, removed when the test ends. */
function scratchCgroup(t: { teardown(fn: () => void): void; title: string }): string {
  const directory = `${cgroup2}/bulkhead-device-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  mkdirSync(directory);
  t.teardown(() => rmdirSync(directory));
  return directory;
}

/** Runs a shell that moves itself into the cgroup, then runs `script` there. */
function inCgroup(directory: string, script: string): { stdout: string; stderr: string } {
  const result = spawnSync('sh', ['-c', `echo $$ > ${directory}/cgroup.procs && ${script}`], { encoding: 'utf8' });
  return { stdout: result.stdout, stderr: result.stderr };
}

kernelTest('kernel: deny-all then /dev/null denies /dev/zero', (t) => {
  const directory = scratchCgroup(t);
  attachDeviceFilter(libc, directory, NULL_ONLY);
  const result = inCgroup(directory, 'echo x > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null && echo zero-ok');
  t.is(result.stdout, 'null-ok\n');
  t.regex(result.stderr, /\/dev\/zero.*Operation not permitted/);
});

kernelTest('kernel: defaults allow /dev/zero, not /dev/kmsg', (t) => {
  const directory = scratchCgroup(t);
  attachDeviceFilter(libc, directory, deviceRules([DENY_ALL]));
  const result = inCgroup(directory, 'head -c1 /dev/zero > /dev/null && echo zero-ok; head -c1 /dev/kmsg > /dev/null && echo kmsg-ok');
  t.is(result.stdout, 'zero-ok\n');
  t.regex(result.stderr, /\/dev\/kmsg.*Operation not permitted/);
});

kernelTest('kernel: update replaces the program', (t) => {
  const directory = scratchCgroup(t);
  attachDeviceFilter(libc, directory, NULL_ONLY);
  attachDeviceFilter(libc, directory, deviceRules([DENY_ALL]));
  const fd = libc.openDirectory(directory);
  t.teardown(() => libc.close(fd));
  t.is(libc.bpfProgQuery(fd, BPF_CGROUP_DEVICE).length, 1);
  t.is(inCgroup(directory, 'head -c1 /dev/zero > /dev/null && echo zero-ok').stdout, 'zero-ok\n');
});

kernelTest('kernel: verifier accepts edge rule lists', (t) => {
  const lists: DeviceRule[][] = [[], [DENY_ALL], [{ allow: true, access: 'rwm' }], [{ allow: true, access: '' }], [...DEFAULT_DEVICE_RULES], [{ allow: true, access: 'rwm' }, { allow: false, type: 'b', access: 'w' }]];
  for (const rules of lists) {
    const fd = libc.bpfProgLoad(BPF_PROG_TYPE_CGROUP_DEVICE, compileDeviceFilter(rules), 'Apache-2.0');
    libc.close(fd);
    t.pass(JSON.stringify(rules));
  }
});

kernelTest('kernel: verifier rejection gives its reason', (t) => {
  // An exit that never set R0.
  const program = Buffer.alloc(8);
  program.writeUInt8(0x95, 0);
  t.throws(() => libc.bpfProgLoad(BPF_PROG_TYPE_CGROUP_DEVICE, program, 'Apache-2.0'), { message: 'BPF_PROG_LOAD: EACCES: R0 !read_ok' });
});
