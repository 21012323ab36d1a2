import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { bulkhead, fixtures, hostMounts, listDir, rootTest, stateRoot, temporaryDir } from './helpers.js';

function oneLine(t: { is: (a: unknown, b: unknown, m?: string) => void }, stderr: string): void {
  t.is(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
}

rootTest('missing rootfs fails naming root.path and leaves nothing', async (t) => {
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'run', '--rootfs', '/nonexistent/rootfs', 'true']);
  t.is(result.code, 1);
  t.regex(result.stderr, /^bulkhead: root\.path: \/nonexistent\/rootfs: ENOENT/);
  oneLine(t, result.stderr);
  t.deepEqual(listDir(root), []);
});

rootTest('missing command fails naming it and leaves nothing', async (t) => {
  const { busybox } = await fixtures();
  const root = stateRoot();
  const before = hostMounts();
  const result = await bulkhead(['--root', root, 'run', '--rootfs', busybox, 'no-such-command']);
  t.is(result.code, 127);
  t.regex(result.stderr, /exec "no-such-command".*ENOENT: executable not found in the container's PATH/);
  oneLine(t, result.stderr);
  t.deepEqual(listDir(root), []);
  t.deepEqual(hostMounts(), before);
});

rootTest('invalid hostname fails naming the field', async (t) => {
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'run', '--hostname', 'bad_name!', 'true']);
  t.is(result.code, 1);
  t.regex(result.stderr, /^bulkhead: hostname: invalid hostname "bad_name!"/);
  oneLine(t, result.stderr);
  t.deepEqual(listDir(root), []);
});

rootTest('failing mount step names plugin, step and errno', async (t) => {
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'run', '--cwd', '/no/such/dir', 'true']);
  t.is(result.code, 1);
  t.regex(result.stderr, /^bulkhead: chdir "\/no\/such\/dir" \(step \d+, plugin core\): ENOENT/);
  t.deepEqual(listDir(root), []);
});

rootTest('symlinked /proc in the rootfs is refused, even inside the root', async (t) => {
  const { busybox } = await fixtures();
  const rootfs = temporaryDir('bulkhead-escape-');
  const outside = temporaryDir('bulkhead-outside-');
  cpSync(busybox, rootfs, { recursive: true, verbatimSymlinks: true });
  rmSync(join(rootfs, 'proc'), { recursive: true });
  // An absolute symlink: followed on the host it names the host directory; resolved inside the root it names rootfs/<outside>.
  symlinkSync(outside, join(rootfs, 'proc'));
  mkdirSync(join(rootfs, outside), { recursive: true });
  const before = hostMounts();
  const result = await bulkhead(['run', '--rootfs', rootfs, '--', 'true']);
  t.is(result.code, 1);
  t.regex(result.stderr, /mount proc "proc" on "\/proc" in root rootfs .* without following symlinks .*: ELOOP: procfs and sysfs mount only on a real directory/);
  t.deepEqual(hostMounts(), before);
  t.deepEqual(listDir(outside), [], 'nothing appeared in the host directory');
});

test('unknown flag is a usage error', async (t) => {
  const result = await bulkhead(['run', '--bogus', 'true']);
  t.is(result.code, 2);
  t.is(result.stderr, 'bulkhead: unknown flag --bogus\n');
});

test('missing command is a usage error', async (t) => {
  const result = await bulkhead(['run', '--hostname', 'x']);
  t.is(result.code, 2);
  t.regex(result.stderr, /missing the command to run/);
});

test('log file that cannot be opened is a one-line usage error', async (t) => {
  const result = await bulkhead(['--log', '/nonexistent/dir/log', 'plan', 'true']);
  t.is(result.code, 2);
  t.is(result.stderr, 'bulkhead: open log file /nonexistent/dir/log given by --log: ENOENT\n');
});

test('empty state root is a usage error', async (t) => {
  const result = await bulkhead(['--root=', 'plan', 'true']);
  t.is(result.code, 2);
  t.is(result.stderr, 'bulkhead: flag --root needs a value\n');
});

rootTest('script without #! exits 126 naming ENOEXEC', async (t) => {
  const { busybox } = await fixtures();
  const rootfs = temporaryDir('bulkhead-noexec-');
  cpSync(busybox, rootfs, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(rootfs, 'script'), 'echo hi\n', { mode: 0o755 });
  const result = await bulkhead(['run', '--rootfs', rootfs, '/script']);
  t.is(result.code, 126);
  t.regex(result.stderr, /exec "\/script" \(step \d+, plugin core\): ENOEXEC: the file is neither a binary/);
});

test('--log-format json logs the final error as runc does, for containerd', async (t) => {
  const log = join(temporaryDir('bulkhead-log-'), 'log.json');
  const result = await bulkhead(['--root', stateRoot(), '--log', log, '--log-format', 'json', 'state', 'nosuch']);
  t.is(result.code, 1);
  const entries = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const last = entries.at(-1)!;
  t.is(last.level, 'error');
  t.is(`bulkhead: ${String(last.msg)}\n`, result.stderr);
  t.regex(String(last.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
});

test('--log-format text logs the final error as logfmt', async (t) => {
  const log = join(temporaryDir('bulkhead-log-'), 'log.txt');
  const result = await bulkhead(['--root', stateRoot(), '--log', log, 'state', 'nosuch']);
  t.is(result.code, 1);
  t.regex(readFileSync(log, 'utf8'), /^time="[^"]+Z" level=error msg="container nosuch does not exist in \/.+"\n$/);
});
