import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Plan, SpecError, SyscallError, type ContainerSpec, type Process } from '../src/index.js';
import { ExtraFds } from '../src/extra-fds.js';
import { addProcessSteps } from '../src/process.js';

const terminalProcess: Process = { terminal: true, consoleSize: { height: 30, width: 90 }, user: { uid: 1000, gid: 1000 }, args: ['sh'], cwd: '/' };

function planFor(process: Process, extraFds: ExtraFds, execFifo?: string) {
  const plan = new Plan();
  if (execFifo !== undefined) plan.add('core', 'filesystem', { op: 'open-path', path: '/fifo', slot: execFifo });
  addProcessSteps(plan, { ociVersion: OCI_VERSION, process } as ContainerSpec, { dieWithParent: false, execFifo, extraFds });
  return plan.steps().map((planned) => planned.step);
}

/** Listens on a UNIX socket in a temporary directory for the duration of the test. */
async function listening(t: { teardown(fn: () => void): void }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-console-'));
  const path = join(dir, 'console.sock');
  const server = createServer((connection) => connection.destroy());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

test('preserved fds follow the console socket and move to 3 right before exec', async (t) => {
  const socket = await listening(t);
  const fds = await ExtraFds.open(terminalProcess, { consoleSocket: socket, preserveFds: [7, 8] });
  t.teardown(() => fds.close());
  t.is(fds.stdio.length, 3);
  t.deepEqual(fds.stdio.slice(1), [7, 8]);
  const ops = planFor(terminalProcess, fds, 'exec-fifo').map((step) => step.op);
  t.deepEqual(ops.slice(-3), ['wait-fifo', 'preserve-fds', 'exec']);
  t.deepEqual(planFor(terminalProcess, fds).find((step) => step.op === 'preserve-fds'), { op: 'preserve-fds', first: 5, count: 2 });
});

test('the terminal step comes after the filesystem steps and before the identity change', async (t) => {
  const socket = await listening(t);
  const fds = await ExtraFds.open(terminalProcess, { consoleSocket: socket });
  t.teardown(() => fds.close());
  const steps = planFor(terminalProcess, fds);
  t.deepEqual(
    steps.map((step) => step.op),
    ['barrier', 'terminal', 'setgroups', 'setresgid', 'setresuid', 'chdir', 'barrier', 'exec'],
  );
  t.deepEqual(steps[1], { op: 'terminal', socket: 4, rows: 30, cols: 90, console: true, uid: 1000, gid: 1000 });
});

test('without a console socket a terminal process gets no terminal step', async (t) => {
  const fds = await ExtraFds.open(terminalProcess, {});
  t.deepEqual(fds.stdio, []);
  t.false(planFor(terminalProcess, fds).some((step) => step.op === 'terminal' || step.op === 'preserve-fds'));
});

test('a console socket for a process without terminal is a spec error', async (t) => {
  const error = await t.throwsAsync(ExtraFds.open({ args: ['sh'], cwd: '/' }, { consoleSocket: '/nonexistent.sock' }));
  t.true(error instanceof SpecError);
  t.is(error.message, 'process.terminal: must be true when a console socket is given');
});

test('a console socket that does not exist names connect, the path and the errno', async (t) => {
  const error = await t.throwsAsync(ExtraFds.open(terminalProcess, { consoleSocket: '/nonexistent/console.sock' }));
  t.true(error instanceof SyscallError);
  t.is(error.message, 'connect console socket /nonexistent/console.sock: ENOENT');
});
