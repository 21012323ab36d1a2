import { execFileSync, spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveSyscall } from '@bulkhead/core';
import { defaultProfile } from '@bulkhead/plugin-seccomp';
import { bulkhead, fixtures, leftoverCgroups, listDir, rootTest, RUNNING_SECONDS, stateRoot, temporaryDir, TIME_SCALE, uniqueId, waitFor } from './helpers.js';

const ID_INIT_EXEC = uniqueId('seccomp-exec');
const ID_NOTIFY = uniqueId('seccomp-notify');
const ID_NO_AGENT = uniqueId('seccomp-no-agent');

/** Copies the busybox root to work/rootfs and returns that path. */
async function busyboxCopy(work: string): Promise<string> {
  const { busybox } = await fixtures();
  cpSync(busybox, join(work, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  return join(work, 'rootfs');
}

/** Writes a linux.seccomp profile to work/profile.json for --seccomp. */
function profileFile(work: string, profile: unknown): string {
  writeFileSync(join(work, 'profile.json'), JSON.stringify(profile));
  return join(work, 'profile.json');
}

const seccompMode = (pid: number) => /^Seccomp:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

/** Finds, from the host, the pid of the process whose argv is `args` in the pid namespace of `init`. */
function findInNamespace(init: number, args: string[]): number | undefined {
  const namespace = readlinkSync(`/proc/${init}/ns/pid`);
  const cmdline = args.join('\0') + '\0';
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === init) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) === namespace && readFileSync(`/proc/${entry}/cmdline`, 'utf8') === cmdline) return Number(entry);
    } catch {
      // The process exited while the loop looked at it.
    }
  }
  return undefined;
}

rootTest('default profile filters init and exec', async (t) => {
  const dir = temporaryDir('bulkhead-seccomp-');
  await busyboxCopy(dir);
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.process.args = ['sleep', RUNNING_SECONDS];
  config.linux.seccomp = defaultProfile();
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const root = stateRoot();
  t.teardown(() => bulkhead(['--root', root, 'delete', '--force', ID_INIT_EXEC]));
  const started = await bulkhead(['--root', root, 'run', '-d', '--bundle', dir, ID_INIT_EXEC]);
  t.is(started.code, 0, started.stderr);
  const { pid } = JSON.parse((await bulkhead(['--root', root, 'state', ID_INIT_EXEC])).stdout) as { pid: number };
  t.is(seccompMode(pid), '2', 'init runs in seccomp filter mode');

  const exec = await bulkhead(['--root', root, 'exec', '-d', ID_INIT_EXEC, 'sleep', '1234']);
  t.is(exec.code, 0, exec.stderr);
  let execPid: number | undefined;
  await waitFor(() => (execPid = findInNamespace(pid, ['sleep', '1234'])) !== undefined);
  t.is(seccompMode(execPid!), '2', 'the exec process runs in seccomp filter mode');

  const unshare = await bulkhead(['--root', root, 'exec', ID_INIT_EXEC, 'busybox', 'unshare', '-U', 'true']);
  t.not(unshare.code, 0);
  t.regex(unshare.stderr, /Operation not permitted/);
});

rootTest('default profile rejects unshare and mount', async (t) => {
  const work = temporaryDir('bulkhead-seccomp-');
  const rootfs = await busyboxCopy(work);
  const script = 'grep Seccomp: /proc/self/status; busybox unshare -U true; echo unshare=$?; mount -t tmpfs tmpfs /mnt; echo mount=$?';
  const result = await bulkhead(['run', '--rootfs', rootfs, '--seccomp', 'default', '--', 'sh', '-c', script]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^Seccomp:\s+2$/m);
  t.regex(result.stdout, /^unshare=1$/m);
  t.regex(result.stdout, /^mount=1$/m);
  t.regex(result.stderr, /unshare: unshare\(0x10000000\): Operation not permitted/);
  // busybox mount words EPERM this way.
  t.regex(result.stderr, /mount: permission denied \(are you root\?\)/);
  const unconfined = await bulkhead(['run', '--rootfs', rootfs, '--seccomp', 'unconfined', '--', 'grep', 'Seccomp:', '/proc/self/status']);
  t.regex(unconfined.stdout, /^Seccomp:\s+0$/m);
});

rootTest('profile file rule fails mkdir with EPERM', async (t) => {
  const work = temporaryDir('bulkhead-seccomp-');
  const rootfs = await busyboxCopy(work);
  const profile = profileFile(work, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] });
  const result = await bulkhead(['run', '--rootfs', rootfs, '--seccomp', profile, '--', 'mkdir', '/tmp/x']);
  t.is(result.code, 1);
  t.regex(result.stderr, /mkdir: can't create directory '\/tmp\/x': Operation not permitted/);
  const allowed = await bulkhead(['run', '--rootfs', rootfs, '--', 'mkdir', '/tmp/x']);
  t.is(allowed.code, 0, 'the same mkdir works without the profile');
});

rootTest('missing profile file is a usage error', async (t) => {
  const result = await bulkhead(['run', '--seccomp', '/nonexistent/profile.json', '--', 'true']);
  t.is(result.code, 2);
  t.is(result.stderr.trim().split('\n').length, 1);
  t.regex(result.stderr, /--seccomp \/nonexistent\/profile.json: ENOENT/);
});

const AGENT_SOURCE = fileURLToPath(new URL('../../test/fixtures/notify-agent.c', import.meta.url));

/** Builds the notify agent into work and starts it on `socket`; resolves once it listens. */
async function startAgent(work: string, socket: string, errno: number) {
  const binary = join(work, 'notify-agent');
  execFileSync('gcc', ['-O2', '-Wall', '-o', binary, AGENT_SOURCE]);
  const agent = spawn(binary, [socket, String(errno)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  agent.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  agent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => agent.on('exit', resolve));
  await waitFor(() => stdout.includes('listening\n'));
  return { agent, exited, output: () => ({ stdout, stderr }) };
}

rootTest('notify agent gets the listener and sets the errno', async (t) => {
  const work = temporaryDir('bulkhead-seccomp-');
  const rootfs = await busyboxCopy(work);
  const socket = join(work, 'agent.sock');
  const { agent, exited, output } = await startAgent(work, socket, constants.errno.EDQUOT);
  t.teardown(() => agent.kill());
  const profile = profileFile(work, { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: socket, listenerMetadata: 'probe', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] });
  const result = await bulkhead(['run', '--id', ID_NOTIFY, '--rootfs', rootfs, '--seccomp', profile, '--', 'mkdir', '/tmp/x']);
  t.is(result.code, 1, result.stderr);
  // The agent prints and exits right after its reply. A run that never reached it leaves it waiting.
  const timer = setTimeout(() => agent.kill(), 5000 * TIME_SCALE);
  t.is(await exited, 0, output().stderr);
  clearTimeout(timer);
  t.regex(result.stderr, /mkdir: can't create directory '\/tmp\/x': Disk quota exceeded/);

  const lines = Object.fromEntries(output().stdout.trim().split('\n').map((line) => [line.split(' ')[0], line.slice(line.indexOf(' ') + 1)]));
  t.is(lines['fds'], '1');
  const state = JSON.parse(lines['state']!) as { ociVersion: string; fds: string[]; pid: number; metadata: string; state: { id: string; status: string; pid: number } };
  t.deepEqual(state.fds, ['seccompFd']);
  t.is(state.metadata, 'probe');
  t.like(state.state, { id: ID_NOTIFY, status: 'creating', pid: state.pid });
  t.true(state.pid > 0);
  t.is(lines['syscall'], String(resolveSyscall('mkdir')), 'the notification is for mkdir');
});

rootTest('notify without an agent fails create cleanly', async (t) => {
  const work = temporaryDir('bulkhead-seccomp-');
  const rootfs = await busyboxCopy(work);
  const root = stateRoot();
  const socket = join(work, 'nobody.sock');
  const profile = profileFile(work, { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: socket, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] });
  const result = await bulkhead(['--root', root, 'run', '--id', ID_NO_AGENT, '--rootfs', rootfs, '--seccomp', profile, '--', 'mkdir', '/tmp/x']);
  t.is(result.code, 1);
  t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  t.true(result.stderr.includes(`the agent at ${socket}`), result.stderr);
  t.regex(result.stderr, /ENOENT/);
  t.deepEqual(listDir(root), []);
  t.deepEqual(leftoverCgroups(ID_NO_AGENT), []);
  t.false(readdirSync(join(rootfs, 'tmp')).includes('x'), 'the container process never ran');
});
