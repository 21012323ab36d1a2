import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { bulkhead, leftoverCgroups, listDir, ociBundle, rootTest, RUNNING_SECONDS, stateRoot, temporaryDir, uniqueId, waitFor } from './helpers.js';

const ID_C1 = uniqueId('c1');
const ID_C2 = uniqueId('c2');
const ID_C3 = uniqueId('c3');
const ID_C4 = uniqueId('c4');
const ID_C5 = uniqueId('c5');
const ID_C6 = uniqueId('c6');
const ID_TWIN = uniqueId('twin');
const ID_KILLED = uniqueId('killed');
const ID_SAME = uniqueId('same');
const ID_LISTED = uniqueId('listed');
const ID_R1 = uniqueId('r1');
const ID_R2 = uniqueId('r2');
const ID_E1 = uniqueId('e1');
const ID_P1 = uniqueId('p1');
const ID_PF = uniqueId('pf');
const ID_NOROOT = uniqueId('noroot');

const bundle = ociBundle;

const state = async (root: string, id: string) => JSON.parse((await bulkhead(['--root', root, 'state', id])).stdout);

rootTest('create, start, state and delete follow the OCI lifecycle', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sleep', RUNNING_SECONDS]));
  const root = stateRoot();
  const pidFile = join(dir, 'pid');
  const created = await bulkhead(['--root', root, 'create', '--bundle', dir, '--pid-file', pidFile, ID_C1]);
  t.is(created.code, 0, created.stderr);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.like(await state(root, ID_C1), { ociVersion: '1.2.0', id: ID_C1, status: 'created', pid, bundle: dir });
  t.regex(readFileSync(`/proc/${pid}/comm`, 'utf8'), /bulkhead:child/, 'waits before exec');

  t.is((await bulkhead(['--root', root, 'start', ID_C1])).code, 0);
  t.like(await state(root, ID_C1), { status: 'running', pid });
  const again = await bulkhead(['--root', root, 'start', ID_C1]);
  t.is(again.code, 1);
  t.is(again.stderr, `bulkhead: cannot start container ${ID_C1}: it is running, not created\n`);

  t.is((await bulkhead(['--root', root, 'kill', ID_C1, 'KILL'])).code, 0);
  await waitFor(async () => (await state(root, ID_C1)).status === 'stopped');
  t.is((await bulkhead(['--root', root, 'delete', ID_C1])).code, 0);
  t.deepEqual(listDir(root), []);
});

rootTest('delete of a running container needs --force and changes nothing without it', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sleep', RUNNING_SECONDS]));
  const root = stateRoot();
  await bulkhead(['--root', root, 'create', '--bundle', dir, ID_C2]);
  await bulkhead(['--root', root, 'start', ID_C2]);
  const refused = await bulkhead(['--root', root, 'delete', ID_C2]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, new RegExp(`cannot delete container ${ID_C2}: it is running`));
  const { pid } = await state(root, ID_C2);
  t.true(existsSync(`/proc/${pid}`), 'still running');
  t.is((await bulkhead(['--root', root, 'delete', '--force', ID_C2])).code, 0);
  t.deepEqual(listDir(root), []);
});

rootTest('kill sends the named signal', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sh', '-c', 'trap "exit 0" USR1; while :; do sleep 0.05; done']));
  const root = stateRoot();
  await bulkhead(['--root', root, 'create', '--bundle', dir, ID_C3]);
  await bulkhead(['--root', root, 'start', ID_C3]);
  t.is((await bulkhead(['--root', root, 'kill', ID_C3, 'USR1'])).code, 0);
  await waitFor(async () => (await state(root, ID_C3)).status === 'stopped');
  const bad = await bulkhead(['--root', root, 'kill', ID_C3, 'NOPE']);
  t.is(bad.code, 2);
  await bulkhead(['--root', root, 'delete', ID_C3]);
});

rootTest('config without a process is created but not started', async (t) => {
  const dir = await bundle((c) => delete c.process);
  const root = stateRoot();
  t.is((await bulkhead(['--root', root, 'create', '--bundle', dir, ID_C4])).code, 0);
  t.is((await state(root, ID_C4)).status, 'created');
  const started = await bulkhead(['--root', root, 'start', ID_C4]);
  t.is(started.stderr, `bulkhead: cannot start container ${ID_C4}: its spec has no process\n`);
  t.is((await bulkhead(['--root', root, 'delete', ID_C4])).code, 0);
  t.deepEqual(listDir(root), []);
});

rootTest('malformed config fails with JSON paths and leaves no state', async (t) => {
  const dir = await bundle((c) => {
    c.process.args = 'sh';
    c.hostname = 5;
  });
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'create', '--bundle', dir, ID_C5]);
  t.is(result.code, 1);
  t.is(result.stderr, 'bulkhead: process.args: must be an array; hostname: must be a string\n');
  t.deepEqual(listDir(root), []);
});

rootTest('invalid JSON and unsupported versions name config.json', async (t) => {
  const dir = await bundle();
  writeFileSync(join(dir, 'config.json'), '{"ociVersion": ');
  const broken = await bulkhead(['create', '--bundle', dir, ID_C6]);
  t.regex(broken.stderr, /^bulkhead: .*config\.json: invalid JSON/);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ociVersion: '2.0.0' }));
  const future = await bulkhead(['create', '--bundle', dir, ID_C6]);
  t.is(future.stderr, 'bulkhead: ociVersion: unsupported version "2.0.0": this runtime implements runtime-spec 1.0 to 1.3\n');
});

rootTest('second create with the same id fails and keeps the first', async (t) => {
  const dir = await bundle();
  const root = stateRoot();
  const [first, second] = await Promise.all([bulkhead(['--root', root, 'create', '--bundle', dir, ID_SAME]), bulkhead(['--root', root, 'create', '--bundle', dir, ID_SAME])]);
  t.deepEqual([first.code, second.code].sort(), [0, 1]);
  t.regex(first.stderr + second.stderr, new RegExp(`container ${ID_SAME} already exists`));
  t.is((await state(root, ID_SAME)).status, 'created');
  await bulkhead(['--root', root, 'delete', ID_SAME]);
  t.deepEqual(listDir(root), []);
});

rootTest('delete --force cleans up after a create that was killed', async (t) => {
  const dir = await bundle();
  const root = stateRoot();
  const { spawn } = await import('node:child_process');
  const { BULKHEAD } = await import('./helpers.js');
  const create = spawn(process.execPath, [BULKHEAD, '--root', root, 'create', '--bundle', dir, ID_KILLED], { stdio: 'ignore' });
  // Whatever fails below, nothing of this container may outlive the test.
  t.teardown(async () => {
    create.kill('SIGKILL');
    await bulkhead(['--root', root, 'delete', '--force', ID_KILLED]);
  });
  await waitFor(async () => existsSync(join(root, ID_KILLED)));
  create.kill('SIGKILL');
  await new Promise((resolve) => create.on('close', resolve));
  const result = await bulkhead(['--root', root, 'delete', '--force', ID_KILLED]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(listDir(root), []);
  t.deepEqual(leftoverCgroups(ID_KILLED), []);
});

rootTest('namespaced sysctls reach the container and not the host', async (t) => {
  const hostValue = readFileSync('/proc/sys/kernel/shmmni', 'utf8');
  const dir = await bundle((c) => {
    c.process.args = ['cat', '/proc/sys/kernel/shmmni'];
    c.linux.sysctl = { 'kernel.shmmni': '1234' };
  });
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('sysctl')]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, '1234\n');
  t.is(readFileSync('/proc/sys/kernel/shmmni', 'utf8'), hostValue);
});

rootTest('a host-wide sysctl is rejected naming it', async (t) => {
  const dir = await bundle((c) => (c.linux.sysctl = { 'kernel.panic': '1' }));
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('sysctl-host')]);
  t.is(result.code, 1);
  t.is(result.stderr, 'bulkhead: linux.sysctl.kernel.panic: is not kept per namespace by the kernel, so setting it would change the host\n');
});

rootTest('list shows containers as a table and as JSON', async (t) => {
  const dir = await bundle();
  const root = stateRoot();
  await bulkhead(['--root', root, 'create', '--bundle', dir, ID_LISTED]);
  const table = await bulkhead(['--root', root, 'list']);
  t.regex(table.stdout, new RegExp(`^ID\\s+PID\\s+STATUS\\s+BUNDLE\\s+CREATED\\n${ID_LISTED}\\s+\\d+\\s+created\\s`));
  const json = JSON.parse((await bulkhead(['--root', root, 'list', '--format', 'json'])).stdout);
  t.like(json[0], { id: ID_LISTED, status: 'created' });
  await bulkhead(['--root', root, 'delete', ID_LISTED]);
});

rootTest('unknown container is a one-line error', async (t) => {
  const result = await bulkhead(['--root', stateRoot(), 'state', 'nope']);
  t.is(result.code, 1);
  t.regex(result.stderr, /^bulkhead: container nope does not exist in /);
});

rootTest('runc form of run waits and returns the exit code', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sh', '-c', 'echo $$; exit 3']));
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'run', '--bundle', dir, ID_R1]);
  t.is(result.code, 3);
  t.is(result.stdout, '1\n');
  t.deepEqual(listDir(root), []);
});

rootTest('runc form of run -d leaves the container running', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sleep', RUNNING_SECONDS]));
  const root = stateRoot();
  const pidFile = join(dir, 'run.pid');
  t.is((await bulkhead(['--root', root, 'run', '-d', '--pid-file', pidFile, '--bundle', dir, ID_R2])).code, 0);
  t.like(await state(root, ID_R2), { status: 'running', pid: Number(readFileSync(pidFile, 'utf8')) });
  t.is((await bulkhead(['--root', root, 'delete', '--force', ID_R2])).code, 0);
  t.deepEqual(listDir(root), []);
});

rootTest('exec joins the namespaces and cgroup of a running container', async (t) => {
  const dir = await bundle((c) => {
    c.process.args = ['sleep', RUNNING_SECONDS];
    c.hostname = 'box';
    c.linux.resources = { pids: { limit: 50 } };
  });
  const root = stateRoot();
  t.is((await bulkhead(['--root', root, 'run', '-d', '--bundle', dir, ID_E1])).code, 0);
  const joined = await bulkhead(['--root', root, 'exec', ID_E1, 'sh', '-c', 'hostname; ps -o pid,comm | grep -c sleep; grep pids /proc/self/cgroup']);
  t.is(joined.code, 0, joined.stderr);
  const [hostname, sleeps, cgroup] = joined.stdout.trim().split('\n');
  t.is(hostname, 'box');
  t.is(sleeps, '1', 'sees the init of the container pid namespace');
  t.regex(cgroup!, new RegExp(`bulkhead/${ID_E1}$`));
  t.is((await bulkhead(['--root', root, 'exec', '--env', 'X=7', '--cwd', '/tmp', ID_E1, 'sh', '-c', 'echo $X; pwd; exit 4'])).stdout, '7\n/tmp\n');
  t.is((await bulkhead(['--root', root, 'exec', ID_E1, 'sh', '-c', 'exit 4'])).code, 4);
  t.is((await bulkhead(['--root', root, 'exec', ID_E1, 'no-such-command'])).code, 127);
  await bulkhead(['--root', root, 'delete', '--force', ID_E1]);
  const stopped = await bulkhead(['--root', root, 'exec', ID_E1, 'true']);
  t.is(stopped.code, 1);
});

rootTest('pause freezes the container and resume thaws it', async (t) => {
  const dir = await bundle((c) => {
    c.root.readonly = false;
    c.process.args = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.02; done'];
  });
  const root = stateRoot();
  const tick = () => readFileSync(join(dir, 'rootfs/tmp/tick'), 'utf8');
  await bulkhead(['--root', root, 'run', '-d', '--bundle', dir, ID_P1]);
  await waitFor(async () => existsSync(join(dir, 'rootfs/tmp/tick')));
  t.is((await bulkhead(['--root', root, 'pause', ID_P1])).code, 0);
  t.is((await state(root, ID_P1)).status, 'paused');
  const frozen = tick();
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(tick(), frozen, 'no progress while paused');
  const refused = await bulkhead(['--root', root, 'delete', ID_P1]);
  t.is(refused.stderr, `bulkhead: cannot delete container ${ID_P1}: it is paused; stop it first or use --force\n`);
  t.is((await bulkhead(['--root', root, 'resume', ID_P1])).code, 0);
  await waitFor(async () => tick() !== frozen);
  t.is((await state(root, ID_P1)).status, 'running');
  t.is((await bulkhead(['--root', root, 'resume', ID_P1])).code, 1, 'resume of a running container');
  await bulkhead(['--root', root, 'pause', ID_P1]);
  const forced = await bulkhead(['--root', root, 'delete', '--force', ID_P1]);
  t.is(forced.code, 0, `force-delete of a paused container: ${forced.stderr}`);
  t.deepEqual(listDir(root), []);
});

rootTest('same id under another state root is rejected, not joined', async (t) => {
  const dir = await bundle((c) => (c.process.args = ['sleep', RUNNING_SECONDS]));
  const [first, second] = [stateRoot(), stateRoot()];
  t.is((await bulkhead(['--root', first, 'run', '-d', '--bundle', dir, ID_TWIN])).code, 0);
  const clash = await bulkhead(['--root', second, 'create', '--bundle', dir, ID_TWIN]);
  t.is(clash.code, 1);
  t.regex(clash.stderr, /^bulkhead: prepare hook of plugin @bulkhead\/plugin-cgroup: linux\.cgroupsPath: cgroup \S+twin-\d+ exists already/);
  t.deepEqual(listDir(second), []);
  t.is((await state(first, ID_TWIN)).status, 'running', 'the first container is untouched');
  await bulkhead(['--root', first, 'delete', '--force', ID_TWIN]);
});

rootTest('unwritable pid file deletes the new container', async (t) => {
  const dir = await bundle();
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'create', '--pid-file', join(dir, 'missing/pid'), '--bundle', dir, ID_PF]);
  t.is(result.code, 2);
  t.regex(result.stderr, /^bulkhead: write pid file \S+missing\/pid: ENOENT; the container was deleted/);
  t.deepEqual(listDir(root), []);
});

rootTest('commands on unknown ids leave no lock files', async (t) => {
  const root = stateRoot();
  for (const command of [['start', 'ghost'], ['kill', 'ghost'], ['delete', 'ghost']]) t.is((await bulkhead(['--root', root, ...command])).code, 1, command[0]);
  t.is((await bulkhead(['--root', root, 'delete', '--force', 'ghost'])).code, 0, 'delete --force of a missing container succeeds, as with runc');
  t.deepEqual(listDir(root), []);
});

rootTest('config without root is rejected', async (t) => {
  const dir = await bundle((c) => delete c.root);
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'create', '--bundle', dir, ID_NOROOT]);
  t.is(result.stderr, 'bulkhead: root: is required: the runtime-spec requires a root filesystem on Linux\n');
  t.deepEqual(listDir(root), []);
});

test('spec refuses to overwrite config.json', async (t) => {
  const dir = temporaryDir('bulkhead-spec-');
  t.is((await bulkhead(['spec', '--bundle', dir])).code, 0);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  t.like(config, { ociVersion: '1.2.0', root: { path: 'rootfs', readonly: true }, process: { args: ['sh'] } });
  const again = await bulkhead(['spec', '--bundle', dir]);
  t.is(again.code, 2);
  t.regex(again.stderr, /config\.json exists already/);
});

test('features describes the runtime and the kernel', async (t) => {
  const features = JSON.parse((await bulkhead(['features'])).stdout);
  t.is(features.ociVersionMin, '1.0.0');
  t.true(features.linux.namespaces.includes('pid'));
  t.true(features.mountOptions.includes('rbind'));
  t.true(features['org.bulkhead.kernel'].syscalls.pidfd_open);
  t.true(['v1', 'v2', 'hybrid', 'none'].includes(features['org.bulkhead.kernel'].cgroup.mode));
});
