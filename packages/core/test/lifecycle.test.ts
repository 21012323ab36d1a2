import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { exitCodeOf, OCI_VERSION, Runtime, StepError, type ContainerSpec, type Plugin } from '../src/index.js';
import { namespacesPlugin } from '../src/testing/index.js';

// The core with a minimal plugin that creates the namespaces, so that these tests need no
// The pid and mount namespaces, so that the containers of these tests need no other plugin.
const namespaces = namespacesPlugin();

// Serial: the file descriptor count of this process is one of the things checked.
const rootTest = process.getuid?.() === 0 ? test.serial : test.skip;

function setup(t: { teardown(fn: () => void): void }) {
  const stateRoot = mkdtempSync(join(tmpdir(), 'bulkhead-core-state-'));
  t.teardown(() => rmSync(stateRoot, { recursive: true, force: true }));
  return { runtime: new Runtime({ stateRoot }).use(namespaces), stateRoot };
}

const spec = (args: string[]): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args, cwd: '/', env: ['PATH=/usr/bin:/bin'] },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
});

const openFds = () => readdirSync('/proc/self/fd').length;

rootTest('run returns the exit status', async (t) => {
  const { runtime, stateRoot } = setup(t);
  t.deepEqual(await runtime.run(spec(['sh', '-c', 'exit 3']), { stdio: 'ignore' }), { exited: true, code: 3 });
  t.deepEqual(readdirSync(stateRoot), []);
});

rootTest('created container waits until start', async (t) => {
  const { runtime, stateRoot } = setup(t);
  const handle = await runtime.create(spec(['true']), { id: 'waiting', stdio: 'ignore' });
  t.is(handle.container.status, 'created');
  const state = JSON.parse(readFileSync(join(stateRoot, 'waiting', 'state.json'), 'utf8'));
  t.like(state, { id: 'waiting', status: 'created', pid: handle.pid });
  t.regex(readFileSync(`/proc/${handle.pid}/comm`, 'utf8'), /bulkhead:child/);
  await handle.start();
  t.deepEqual(await handle.wait(), { exited: true, code: 0 });
  await handle.delete();
  t.deepEqual(readdirSync(stateRoot), []);
});

rootTest('container process is a child of the runtime process', async (t) => {
  const { runtime } = setup(t);
  const handle = await runtime.create(spec(['true']), { stdio: 'ignore' });
  const ppid = /PPid:\s+(\d+)/.exec(readFileSync(`/proc/${handle.pid}/status`, 'utf8'))![1];
  t.is(Number(ppid), process.pid);
  await handle.delete();
});

rootTest('kill reaches the container and wait reports the signal', async (t) => {
  const { runtime } = setup(t);
  const handle = await runtime.create(spec(['sleep', '30']), { stdio: 'ignore' });
  await handle.start();
  handle.kill(9);
  const status = await handle.wait();
  t.deepEqual(status, { exited: false, signal: 9, coreDumped: false });
  t.is(exitCodeOf(status), 137);
  await handle.delete();
  t.throws(() => handle.kill(15), { message: /it is stopped/ });
});

rootTest('delete before start kills the waiting child', async (t) => {
  const { runtime, stateRoot } = setup(t);
  const handle = await runtime.create(spec(['true']), { stdio: 'ignore' });
  const pid = handle.pid;
  await handle.delete();
  t.throws(() => readFileSync(`/proc/${pid}/status`), { code: 'ENOENT' });
  t.deepEqual(readdirSync(stateRoot), []);
});

rootTest('start twice is rejected', async (t) => {
  const { runtime } = setup(t);
  const handle = await runtime.create(spec(['true']), { stdio: 'ignore' });
  await handle.start();
  await t.throwsAsync(handle.start(), { message: /it is running, not created/ });
  await handle.wait();
  await handle.delete();
});

rootTest('failing step undoes everything and reaps the child', async (t) => {
  const { runtime, stateRoot } = setup(t);
  const error = (await t.throwsAsync(runtime.run(spec(['/nonexistent/program']), { stdio: 'ignore' }))) as StepError;
  t.true(error instanceof StepError);
  t.is(error.plugin, 'core');
  t.is(error.op, 'exec');
  t.is(error.errnoName, 'ENOENT');
  t.deepEqual(readdirSync(stateRoot), []);
});

rootTest('duplicate id is rejected and the first container is untouched', async (t) => {
  const { runtime, stateRoot } = setup(t);
  const first = await runtime.create(spec(['true']), { id: 'same', stdio: 'ignore' });
  await t.throwsAsync(runtime.create(spec(['true']), { id: 'same', stdio: 'ignore' }), { message: /container same already exists/ });
  t.deepEqual(readdirSync(stateRoot), ['same']);
  await first.delete();
});

rootTest('runs in one process leak no file descriptors', async (t) => {
  const { runtime } = setup(t);
  await runtime.run(spec(['true']), { stdio: 'ignore' });
  const before = openFds();
  for (let i = 0; i < 20; i++) await runtime.run(spec(['true']), { stdio: 'ignore' });
  t.is(openFds(), before);
});

rootTest('piped stdio reaches the caller', async (t) => {
  const { runtime } = setup(t);
  const handle = await runtime.create(spec(['sh', '-c', 'echo $$']), { stdio: ['ignore', 'pipe', 'ignore'] });
  const stdout = handle.stdio[1]!;
  let output = '';
  stdout.on('data', (chunk) => (output += chunk));
  const ended = new Promise((resolve) => stdout.on('end', resolve));
  await handle.start();
  await handle.wait();
  await ended;
  await handle.delete();
  t.is(output, '1\n');
});

rootTest('delete while wait is pending resolves wait with the kill', async (t) => {
  const { runtime } = setup(t);
  const handle = await runtime.create(spec(['sleep', '30']), { stdio: 'ignore' });
  await handle.start();
  const waiting = handle.wait();
  await handle.delete();
  t.deepEqual(await waiting, { exited: false, signal: 9, coreDumped: false });
  t.deepEqual(await handle.wait(), { exited: false, signal: 9, coreDumped: false }, 'wait after delete');
});

rootTest('start after the created process was killed is rejected', async (t) => {
  const { runtime } = setup(t);
  const handle = await runtime.create(spec(['true']), { stdio: 'ignore' });
  handle.kill(9);
  // SIGKILL takes effect when the process next runs: wait until it is a zombie, on a busy host too.
  while (!/\) Z /.test(readFileSync(`/proc/${handle.pid}/stat`, 'utf8'))) await new Promise((resolve) => setTimeout(resolve, 10));
  await t.throwsAsync(handle.start(), { message: /its process exited before start/ });
  await handle.delete();
});

rootTest('spec without process is created but cannot start', async (t) => {
  const { runtime, stateRoot } = setup(t);
  const { process: _process, ...noProcess } = spec(['true']);
  const handle = await runtime.create(noProcess, { stdio: 'ignore' });
  t.is(handle.container.status, 'created');
  await t.throwsAsync(handle.start(), { message: /its spec has no process/ });
  await handle.delete();
  t.deepEqual(readdirSync(stateRoot), []);
});

rootTest('unshare step creates a namespace after the attach barrier', async (t) => {
  const { stateRoot } = setup(t);
  const unshare: Plugin = {
    name: 'test-unshare',
    core: '^0.1.0',
    owns: { namespaces: ['cgroup'] },
    apply({ hooks }) {
      hooks.plan.tap((plan) => plan.add('test-unshare', 'host', { op: 'unshare', namespaces: ['cgroup'] }));
    },
  };
  const runtime = new Runtime({ stateRoot }).use(namespaces).use(unshare);
  const handle = await runtime.create(spec(['true']), { stdio: 'ignore' });
  t.not(readlinkSync(`/proc/${handle.pid}/ns/cgroup`), readlinkSync('/proc/self/ns/cgroup'));
  await handle.delete();
});

rootTest('wait-fifo step blocks exec until the FIFO is opened for reading', async (t) => {
  const { stateRoot } = setup(t);
  const fifo = join(stateRoot, 'exec.fifo');
  execFileSync('mkfifo', [fifo]);
  const gate: Plugin = {
    name: 'test-fifo',
    core: '^0.1.0',
    apply({ hooks }) {
      hooks.plan.tap((plan) => {
        plan.add('test-fifo', 'filesystem', { op: 'open-path', path: fifo, slot: 'fifo' });
        plan.add('test-fifo', 'seccomp', { op: 'wait-fifo', slot: 'fifo' });
      });
    },
  };
  const runtime = new Runtime({ stateRoot }).use(namespaces).use(gate);
  // The wait runs before the start barrier, so create returns only once a reader opened the
  // FIFO, as `start` does from another process.
  const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
  let read = '';
  reader.stdout.on('data', (chunk) => (read += chunk));
  const readerClosed = new Promise((resolve) => reader.on('close', resolve));
  const handle = await runtime.create(spec(['sh', '-c', 'exit 5']), { stdio: 'ignore' });
  await readerClosed;
  await handle.start();
  t.deepEqual(await handle.wait(), { exited: true, code: 5 });
  t.is(read, '0');
  await handle.delete();
});
