import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { BULKHEAD, bulkhead, fixtures, listDir, rootTest, RUNNING_SECONDS, stateRoot, temporaryDir, uniqueId } from './helpers.js';

const ALL = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE'];
const PODMAN = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
const mask = (names: readonly string[]) => names.reduce((sum, name) => sum | (1n << BigInt(ALL.indexOf(name))), 0n);

const ID_STRICT = uniqueId('strict');
const ID_CAPS = uniqueId('caps');

function writeJson(value: unknown): string {
  const path = join(temporaryDir('bulkhead-check-'), 'config.json');
  writeFileSync(path, JSON.stringify(value));
  return path;
}

function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(':\t').map((part) => part.trim()) as [string, string]),
  );
}

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('condition not met within 5 s');
}

const privileged = {
  ociVersion: '1.2.0',
  root: { path: 'rootfs' },
  process: { args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 }, capabilities: { bounding: ALL, effective: ALL, permitted: ALL } },
  linux: { namespaces: [{ type: 'mount' }] },
};

test('check flags a privileged config', async (t) => {
  const result = await bulkhead(['check', writeJson(privileged)]);
  t.is(result.code, 1);
  t.regex(result.stdout, /^noPrivileged: process\.capabilities\.bounding: contains every capability: the container is privileged$/m);
  t.regex(result.stdout, /^forbiddenCapabilities: process\.capabilities\.bounding\[21\]: CAP_SYS_ADMIN is forbidden$/m);
  t.regex(result.stdout, /^namespaces: linux\.namespaces: no pid namespace: the container shares the host's$/m);
  t.regex(result.stdout, /^readonlyRoot: root\.readonly: the root filesystem is writable$/m);
  t.regex(result.stdout, /^fail: \d+ violations$/m);
});

test('check passes with a rules file', async (t) => {
  const rules = writeJson({ rules: { noPrivileged: false, readonlyRoot: false, namespaces: ['mount'], allowedCapabilities: false, forbiddenCapabilities: false, seccomp: false, memoryLimit: false, pidsLimit: false, noNewPrivileges: false, maskedPaths: false } });
  const result = await bulkhead(['check', '--rules', rules, '--json', writeJson(privileged)]);
  t.is(result.code, 0, result.stdout);
  t.deepEqual(JSON.parse(result.stdout), { pass: true, violations: [] });
});

test('check rejects an unknown rule', async (t) => {
  const result = await bulkhead(['check', '--rules', writeJson({ rules: { noFun: true } }), writeJson(privileged)]);
  t.is(result.code, 2);
  t.regex(result.stderr, /^bulkhead: check: .*: rules\.rules\.noFun: unknown rule/);
});

test('run rejects an unknown level', async (t) => {
  const result = await bulkhead(['run', '--level', 'paranoid', 'true']);
  t.is(result.code, 2);
  t.is(result.stderr, 'bulkhead: flag --level "paranoid": expected one of strict, moderate, permissive\n');
});

/** A copy of the busybox root, which has mount and insmod. */
async function rootfs(): Promise<string> {
  const { busybox } = await fixtures();
  const dir = temporaryDir('bulkhead-security-');
  cpSync(busybox, join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  return join(dir, 'rootfs');
}

/** Compiles plugin-seccomp's syscall probe statically into the root filesystem as /probe. */
function addProbe(rootfsDir: string): void {
  const source = fileURLToPath(new URL('../../../plugin-seccomp/test/fixtures/probe.c', import.meta.url));
  const result = spawnSync('cc', ['-static', '-O2', '-o', join(rootfsDir, 'probe'), source], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`compiling the syscall probe failed: ${result.stderr}`);
}

rootTest('strict container cannot mount, ptrace, load modules, unshare a user namespace or call keyctl', async (t) => {
  const root = stateRoot();
  const rootfsDir = await rootfs();
  addProbe(rootfsDir);
  const script = 'mount -t tmpfs none /tmp 2>&1; echo "mount=$?"; insmod /etc/passwd 2>&1; echo "insmod=$?"; unshare -U true 2>&1; echo "unshare=$?"; /probe; echo probed; exec sleep 30';
  const child = spawn(process.execPath, [BULKHEAD, '--root', root, 'run', '--level', 'strict', '--rootfs', rootfsDir, '--id', ID_STRICT, '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    await waitFor(async () => output.includes('probed'));
    const state = JSON.parse((await bulkhead(['--root', root, 'state', ID_STRICT])).stdout) as { pid: number };
    const seen = status(state.pid);
    t.is(seen['Seccomp'], '2');
    // The probe prints "syscall errno"; EPERM is 1.
    for (const call of ['mount', 'ptrace', 'keyctl', 'unshare_user', 'x32_mount', 'i386_mount']) t.regex(output, new RegExp(`^${call} 1$`, 'm'), call);
    t.regex(output, /unshare=[1-9]/);
    t.is(seen['CapBnd'], '0000000000000000');
    t.is(seen['CapEff'], '0000000000000000');
    t.is(seen['CapPrm'], '0000000000000000');
    t.is(seen['NoNewPrivs'], '1');
    t.regex(output, /mount: permission denied/);
    t.regex(output, /mount=1/);
    // Without module support in the kernel, init_module fails with ENOSYS for everyone, and only the
    // empty bounding set above shows that a module could not be loaded.
    if (existsSync('/proc/modules')) t.regex(output, /insmod: can't insert '\/etc\/passwd': Operation not permitted/);
    else t.regex(output, /insmod=[1-9]/);
  } finally {
    await bulkhead(['--root', root, 'kill', ID_STRICT, 'KILL']);
    await exited;
  }
  // Neither the state directory nor the lock file that `kill` took may stay.
  t.deepEqual(listDir(root), []);
});

rootTest('podman capabilities apply to init and exec --cap', async (t) => {
  const dir = temporaryDir('bulkhead-caps-bundle-');
  cpSync(await rootfs(), join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.process.args = ['sleep', RUNNING_SECONDS];
  config.process.user = { uid: 0, gid: 0, additionalGids: [10] };
  config.process.capabilities = { bounding: PODMAN, effective: PODMAN, permitted: PODMAN };
  config.process.noNewPrivileges = true;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const root = stateRoot();
  t.is((await bulkhead(['--root', root, 'run', '-d', '--bundle', dir, ID_CAPS])).code, 0);
  try {
    const exec = await bulkhead(['--root', root, 'exec', '-d', '--cap', 'CAP_SYS_ADMIN', ID_CAPS, 'sleep', RUNNING_SECONDS]);
    t.is(exec.code, 0, exec.stderr);
    const init = (JSON.parse((await bulkhead(['--root', root, 'state', ID_CAPS])).stdout) as { pid: number }).pid;
    const pids = JSON.parse((await bulkhead(['--root', root, 'ps', '--format', 'json', ID_CAPS])).stdout) as number[];
    const execPid = pids.find((pid) => pid !== init)!;

    const initStatus = status(init);
    t.is(BigInt(`0x${initStatus['CapBnd']}`), mask(PODMAN));
    t.is(BigInt(`0x${initStatus['CapEff']}`), mask(PODMAN));
    t.is(initStatus['CapInh'], '0000000000000000');
    t.is(initStatus['Groups'], '10');
    t.is(initStatus['NoNewPrivs'], '1');

    const execStatus = status(execPid);
    t.is(BigInt(`0x${execStatus['CapBnd']}`), mask([...PODMAN, 'CAP_SYS_ADMIN']));
    t.is(BigInt(`0x${execStatus['CapEff']}`), mask([...PODMAN, 'CAP_SYS_ADMIN']));
    t.is(execStatus['Groups'], '10');
    t.is(execStatus['NoNewPrivs'], '1');

    const audit = await bulkhead(['--root', root, 'audit', ID_CAPS]);
    const events = audit.stdout.trim().split('\n').map((line) => JSON.parse(line) as { process: string; action: string; detail: { effective?: string[] } });
    t.deepEqual(events.map((event) => `${event.process} ${event.action}`), ['init capabilities.bounding.drop', 'init capabilities.set', 'init no_new_privs.set', 'exec capabilities.bounding.drop', 'exec capabilities.set', 'exec no_new_privs.set']);
    t.true(events[4]!.detail.effective!.includes('CAP_SYS_ADMIN'));
  } finally {
    await bulkhead(['--root', root, 'delete', '--force', ID_CAPS]);
  }
  t.deepEqual(listDir(root), []);
});

test('features lists the kernel capabilities', async (t) => {
  const result = await bulkhead(['features']);
  const capabilities = (JSON.parse(result.stdout) as { linux: { capabilities: string[] } }).linux.capabilities;
  const lastCapability = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  t.deepEqual(capabilities, ALL.slice(0, lastCapability + 1));
});
