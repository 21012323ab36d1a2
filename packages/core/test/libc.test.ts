import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { libc, SyscallError, UMOUNT_FLAGS } from '../src/index.js';

const rootTest = process.getuid?.() === 0 ? test.serial : test.skip;

const mountPoints = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4]);

test('pidfd_open and pidfd_send_signal reach the process', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const pidfd = libc.pidfdOpen(child.pid!);
  t.true(pidfd > 2);
  libc.pidfdSendSignal(pidfd, 15);
  t.is(await exited, 'SIGTERM');
  libc.close(pidfd);
});

test('pidfd_open of a missing process fails with ESRCH', (t) => {
  const error = t.throws(() => libc.pidfdOpen(0x3fffffff)) as SyscallError;
  t.is(error.syscall, 'pidfd_open');
  t.is(error.errnoName, 'ESRCH');
});

test('waitid of a process that is not a child fails with ECHILD', async (t) => {
  const pidfd = libc.pidfdOpen(process.ppid);
  await t.throwsAsync(libc.waitid(pidfd), { message: 'waitid: ECHILD' });
  libc.close(pidfd);
});

test('child subreaper flag is set and read back', (t) => {
  const before = libc.isChildSubreaper();
  libc.setChildSubreaper(true);
  t.true(libc.isChildSubreaper());
  libc.setChildSubreaper(before);
  t.is(libc.isChildSubreaper(), before);
});

rootTest('mount and umount2 change the mount table', (t) => {
  const target = mkdtempSync(join(tmpdir(), 'bulkhead-libc-'));
  t.teardown(() => rmSync(target, { recursive: true, force: true }));
  libc.mount('tmpfs', target, 'tmpfs', 0, 'size=1m');
  t.true(mountPoints().includes(target));
  libc.umount2(target, UMOUNT_FLAGS.MNT_DETACH);
  t.false(mountPoints().includes(target));
});

test('mount of a missing target names it', (t) => {
  t.throws(() => libc.mount('tmpfs', '/nonexistent/bulkhead', 'tmpfs', 0, null), { message: 'mount /nonexistent/bulkhead: ENOENT' });
});
