import { execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BULKHEAD, bulkhead, listDir, ociBundle as bundle, type Result, rootTest, RUNNING_SECONDS, runProgram, stateRoot, temporaryDir, uniqueId } from './helpers.js';

const RECEIVER_SOURCE = fileURLToPath(new URL('../../test/console-receiver.c', import.meta.url));

/** Compiles the test's console-socket receiver once per test process. */
let receiverBinary: string | undefined;
function receiver(): string {
  if (receiverBinary === undefined) {
    receiverBinary = join(temporaryDir('bulkhead-receiver-'), 'console-receiver');
    execFileSync('cc', ['-O2', '-Wall', '-o', receiverBinary, RECEIVER_SOURCE]);
  }
  return receiverBinary;
}

interface Console {
  socket: string;
  /** Resolves with what the receiver read from the master, and its stderr (the payload line). */
  done: Promise<{ output: string; log: string; code: number | null }>;
}

/** Starts a receiver that sets the window size (when rows > 0) and writes `input` after the first output. */
async function listen(rows: number, cols: number, input: string): Promise<Console> {
  const socket = join(temporaryDir('bulkhead-console-'), 'console.sock');
  const child = spawn(receiver(), [socket, String(rows), String(cols), input], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let log = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve) => {
    child.stderr.on('data', (chunk) => {
      log += chunk;
      if (log.includes('ready\n')) resolve();
    });
  });
  const done = new Promise<{ output: string; log: string; code: number | null }>((resolve) => child.on('close', (code) => resolve({ output, log, code })));
  return { socket, done };
}

const SHELL_CHECKS = 'busybox tty; stty size; [ -t 0 ] && echo stdin-is-a-tty; cut -d" " -f6,7 /proc/$$/stat; ls -l /dev/console; exit\n';

rootTest('create sends a pty master to the console socket and the container runs on its slave', async (t) => {
  const dir = await bundle((c) => {
    c.process.terminal = true;
    c.process.args = ['sh'];
  });
  const root = stateRoot();
  const id = uniqueId('tty');
  const console = await listen(33, 101, SHELL_CHECKS);
  const created = await bulkhead(['--root', root, 'create', '--bundle', dir, '--console-socket', console.socket, id]);
  t.is(created.code, 0, created.stderr);
  t.is((await bulkhead(['--root', root, 'start', id])).code, 0);
  const { output, log, code } = await console.done;
  t.is(code, 0, log);
  t.regex(log, /^payload=\/dev\/ptmx$/m, 'the message carries a name, as runc sends');
  t.regex(output, /^\/dev\/pts\/0\r?$/m, 'tty names the first pty of the container devpts');
  t.regex(output, /^33 101\r?$/m, 'stty size reads the size the engine set with TIOCSWINSZ');
  t.regex(output, /^stdin-is-a-tty\r?$/m);
  // Session 1 means that the shell, PID 1, leads its session. tty_nr 34816 is major 136 (pts), minor 0.
  t.regex(output, /^1 34816\r?$/m, 'the pty is the controlling terminal of the session the shell leads');
  t.regex(output, /^crw.* 136, +0 .*\/dev\/console\r?$/m, '/dev/console is the pty');
  t.is((await bulkhead(['--root', root, 'delete', '--force', id])).code, 0);
  t.deepEqual(listDir(root), []);
});

rootTest('exec --tty -d sends its own pty, sized by process.consoleSize, and writes the pid file', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sleep', RUNNING_SECONDS]));
  const root = stateRoot();
  const id = uniqueId('exectty');
  t.is((await bulkhead(['--root', root, 'run', '-d', '--bundle', dir, id])).code, 0);
  const processFile = join(dir, 'exec.json');
  writeFileSync(processFile, JSON.stringify({ terminal: true, consoleSize: { height: 40, width: 120 }, args: ['sh'], cwd: '/', env: ['PATH=/bin:/sbin'] }));
  const console = await listen(0, 0, SHELL_CHECKS);
  const pidFile = join(dir, 'exec.pid');
  const exec = await bulkhead(['--root', root, 'exec', '-d', '--tty', '--console-socket', console.socket, '--pid-file', pidFile, '--process', processFile, id]);
  t.is(exec.code, 0, exec.stderr);
  t.regex(readFileSync(pidFile, 'utf8'), /^\d+$/);
  const { output, code, log } = await console.done;
  t.is(code, 0, log);
  t.regex(output, /^\/dev\/pts\/0\r?$/m);
  t.regex(output, /^40 120\r?$/m, 'consoleSize sets the pty size');
  t.regex(output, /^stdin-is-a-tty\r?$/m);
  t.is((await bulkhead(['--root', root, 'delete', '--force', id])).code, 0);
});

rootTest('a terminal process without a console socket gets the caller stdio', async (t) => {
  const dir = await bundle((c) => {
    c.process.terminal = true;
    c.process.args = ['sh', '-c', 'busybox tty; read line; echo "read $line"'];
  });
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('notty')], { input: 'from the pipe\n' });
  t.is(result.stdout, 'not a tty\nread from the pipe\n');
});

rootTest('a console socket for a process without terminal is refused and leaves nothing', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['true']));
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'create', '--bundle', dir, '--console-socket', join(dir, 'unused.sock'), uniqueId('noterm')]);
  t.is(result.code, 1);
  t.is(result.stderr, 'bulkhead: process.terminal: must be true when a console socket is given\n');
  t.deepEqual(listDir(root), []);
});

rootTest('a console socket nobody listens on fails with the path and errno and leaves nothing', async (t) => {
  const dir = await bundle((c) => (c.process.terminal = true));
  const root = stateRoot();
  const socket = join(dir, 'missing.sock');
  const result = await bulkhead(['--root', root, 'create', '--bundle', dir, '--console-socket', socket, uniqueId('nosock')]);
  t.is(result.code, 1);
  t.is(result.stderr, `bulkhead: connect console socket ${socket}: ENOENT\n`);
  t.deepEqual(listDir(root), []);
});

/** Runs bulkhead with `files` opened read-only as its fds 3, 4, ... */
function bulkheadWithFds(args: string[], files: string[]): Promise<Result> {
  return bulkhead(args, { stdio: ['pipe', 'pipe', 'pipe', ...files.map((file) => openSync(file, 'r'))] });
}

rootTest('--preserve-fds passes the caller fds 3 and 4 on, and no other fd', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sh', '-c', 'cat <&3; cat <&4; ls /proc/$$/fd; echo end']));
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  writeFileSync(first, 'first file\n');
  writeFileSync(second, 'second file\n');
  const result = await bulkheadWithFds(['--root', stateRoot(), 'run', '--preserve-fds', '2', '--bundle', dir, uniqueId('fds')], [first, second]);
  t.is(result.code, 0, result.stderr);
  // ls lists the shell's fds: outside a pipeline, which holds pipe fds, and not last, which
  // busybox sh would exec in place of the shell, making it list its own directory fd.
  t.is(result.stdout, 'first file\nsecond file\n0\n1\n2\n3\n4\nend\n');
});

rootTest('exec --preserve-fds passes the caller fd on', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sleep', RUNNING_SECONDS]));
  const root = stateRoot();
  const id = uniqueId('execfds');
  t.is((await bulkhead(['--root', root, 'run', '-d', '--bundle', dir, id])).code, 0);
  const file = join(dir, 'data');
  writeFileSync(file, 'for exec\n');
  const result = await bulkheadWithFds(['--root', root, 'exec', '--preserve-fds', '1', id, 'sh', '-c', 'cat <&3'], [file]);
  t.is(result.stdout, 'for exec\n', result.stderr);
  await bulkhead(['--root', root, 'delete', '--force', id]);
});

rootTest('--preserve-fds names an fd the caller did not open', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['true']));
  const result = await bulkhead(['--root', stateRoot(), 'run', '--preserve-fds', '40', '--bundle', dir, uniqueId('badfd')]);
  t.is(result.code, 2);
  t.regex(result.stderr, /^bulkhead: --preserve-fds 40: fd \d+ is not open\n$/);
});

rootTest('--no-pivot enters a root on a tmpfs with MS_MOVE and chroot', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sh', '-c', 'cat /on-tmpfs; stat -f -c %T /']));
  writeFileSync(join(dir, 'rootfs', 'on-tmpfs'), 'inside the tmpfs root\n');
  // The bundle is copied onto a tmpfs in a mount namespace of its own, so that the host's mount
  // table, which other tests compare, never shows the tmpfs.
  const tmpfs = temporaryDir('bulkhead-ramroot-');
  const script = 'mount -t tmpfs -o size=64m tmpfs "$1" && cp -a "$2/." "$1/" && shift 2 && exec "$@"';
  const command = [process.execPath, BULKHEAD, '--root', stateRoot(), '--debug', 'run', '--no-pivot', '--bundle', tmpfs, uniqueId('nopivot')];
  const result = await runProgram('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', tmpfs, dir, ...command]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, 'inside the tmpfs root\ntmpfs\n');
  t.regex(result.stderr, /move rootfs onto \/ and chroot into it/);
  t.notRegex(result.stderr, /pivot_root into/);
});
