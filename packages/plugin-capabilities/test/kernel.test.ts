import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { AUDIT_FILE, OCI_VERSION, Runtime, type AuditEvent, type Capabilities, type ContainerSpec, type Process } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { capabilitiesPlugin, kernelLastCapability, maskOf, PLUGIN_NAME } from '../src/index.js';

// Real containers on the host's root filesystem, as root, checked from outside through /proc/PID/status.
const rootTest = process.getuid?.() === 0 ? test.serial : test.skip;
if (process.getuid?.() !== 0) test('kernel tests are skipped: they need root', (t) => t.pass());

const PODMAN = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];

interface Status {
  CapInh: bigint;
  CapPrm: bigint;
  CapEff: bigint;
  CapBnd: bigint;
  CapAmb: bigint;
  NoNewPrivs: string;
  Groups: string;
  Uid: string;
  Gid: string;
}

function readStatus(pid: number): Status {
  const fields = Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .map((line) => line.split(':\t'))
      .map(([key, value]) => [key, (value ?? '').trim()]),
  );
  const hex = (key: string) => BigInt(`0x${fields[key]}`);
  return { CapInh: hex('CapInh'), CapPrm: hex('CapPrm'), CapEff: hex('CapEff'), CapBnd: hex('CapBnd'), CapAmb: hex('CapAmb'), NoNewPrivs: fields['NoNewPrivs'], Groups: fields['Groups'], Uid: fields['Uid'], Gid: fields['Gid'] };
}

function stateRoot(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-caps-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const spec = (process: Partial<Process>): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args: ['sleep', '60'], cwd: '/', env: ['PATH=/usr/bin:/bin'], ...process },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
});

/**
 * Creates and starts a container, runs one exec'd process beside its init, and hands both pids to
 * `check`; everything is deleted afterwards.
 */
async function withContainer(t: ExecutionContext, containerSpec: ContainerSpec, exec: Process, check: (init: number, exec: number, runtime: Runtime, events: AuditEvent[]) => void | Promise<void>): Promise<void> {
  const events: AuditEvent[] = [];
  const runtime = new Runtime({ stateRoot: stateRoot(t) }).use(capabilitiesPlugin()).use(namespacesPlugin()).onAudit((event) => events.push(event));
  const handle = await runtime.create(containerSpec, { id: `caps-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, stdio: 'ignore', dieWithParent: true });
  try {
    await handle.start();
    // Not detached: the exec'd process is a child of this process, which must reap it before the
    // container's init, the PID namespace's reaper, can finish exiting.
    let exited: Promise<unknown> = Promise.resolve();
    const execPid = await new Promise<number>((resolve, reject) => {
      exited = runtime.exec(handle.container.id, exec, { stdio: 'ignore', onStart: (_pidfd, pid) => resolve(pid) }).catch(reject);
    });
    try {
      await check(handle.pid, execPid, runtime, events);
    } finally {
      handle.kill(9);
      await exited;
    }
  } finally {
    if (handle.container.status !== 'stopped') handle.kill(9);
    await handle.wait();
    await handle.delete();
  }
}

const mask = (names: readonly string[]) => maskOf(names);

rootTest('root gets podman capabilities for init and exec', async (t) => {
  const user = { uid: 0, gid: 0, additionalGids: [10, 20] };
  const capabilities: Capabilities = { bounding: PODMAN, effective: PODMAN, permitted: PODMAN };
  await withContainer(t, spec({ user, capabilities, noNewPrivileges: true }), { args: ['sleep', '60'], cwd: '/', env: ['PATH=/usr/bin:/bin'], user }, (init, exec) => {
    for (const [name, pid] of [['init', init], ['exec', exec]] as const) {
      const status = readStatus(pid);
      t.is(status.CapBnd, mask(PODMAN), `${name} CapBnd`);
      t.is(status.CapPrm, mask(PODMAN), `${name} CapPrm`);
      t.is(status.CapEff, mask(PODMAN), `${name} CapEff`);
      t.is(status.CapInh, 0n, `${name} CapInh`);
      t.is(status.CapAmb, 0n, `${name} CapAmb`);
      t.is(status.NoNewPrivs, '1', `${name} NoNewPrivs`);
      t.is(status.Groups, '10 20', `${name} Groups`);
    }
  });
});

rootTest('non-root user keeps ambient capabilities only', async (t) => {
  const user = { uid: 1000, gid: 1000, additionalGids: [3000, 2000] };
  const bind = ['CAP_NET_BIND_SERVICE'];
  const capabilities: Capabilities = { bounding: ['CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_CHOWN'], effective: bind, permitted: bind, inheritable: bind, ambient: bind };
  await withContainer(t, spec({ user, capabilities }), { args: ['sleep', '60'], cwd: '/', env: ['PATH=/usr/bin:/bin'], user: { uid: 1001, gid: 1001 } }, (init, exec) => {
    const status = readStatus(init);
    t.is(status.Uid, '1000\t1000\t1000\t1000');
    t.is(status.CapBnd, mask(['CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_CHOWN']));
    t.is(status.CapInh, mask(bind));
    t.is(status.CapPrm, mask(bind));
    t.is(status.CapEff, mask(bind));
    t.is(status.CapAmb, mask(bind));
    t.is(status.NoNewPrivs, '0');
    // The kernel keeps groups sorted.
    t.is(status.Groups, '2000 3000');

    // The exec'd process has its own user, no supplementary groups and the container's capabilities.
    const execStatus = readStatus(exec);
    t.is(execStatus.Uid, '1001\t1001\t1001\t1001');
    t.is(execStatus.Groups, '');
    t.is(execStatus.CapAmb, mask(bind));
    t.is(execStatus.CapPrm, mask(bind));
  });
});

rootTest('non-root user without ambient ends with nothing', async (t) => {
  const user = { uid: 1000, gid: 1000 };
  const capabilities: Capabilities = { bounding: PODMAN, effective: PODMAN, permitted: PODMAN };
  await withContainer(t, spec({ user, capabilities }), { args: ['sleep', '60'], cwd: '/', user }, (init) => {
    const status = readStatus(init);
    t.is(status.CapPrm, 0n);
    t.is(status.CapEff, 0n);
    t.is(status.CapBnd, mask(PODMAN));
    t.is(status.Groups, '');
  });
});

rootTest('no capabilities field leaves root its capabilities', async (t) => {
  await withContainer(t, spec({ user: { uid: 0, gid: 0 } }), { args: ['sleep', '60'], cwd: '/' }, (init) => {
    const all = (1n << BigInt(kernelLastCapability() + 1)) - 1n;
    t.is(readStatus(init).CapBnd, readStatus(process.pid).CapBnd & all);
    t.is(readStatus(init).NoNewPrivs, '0');
  });
});

rootTest('oom_score_adj is written for init and exec', async (t) => {
  await withContainer(t, spec({ oomScoreAdj: 432 }), { args: ['sleep', '60'], cwd: '/' }, (init, exec) => {
    t.is(readFileSync(`/proc/${init}/oom_score_adj`, 'utf8').trim(), '432');
    t.is(readFileSync(`/proc/${exec}/oom_score_adj`, 'utf8').trim(), '432');
  });
});

rootTest('decisions are audit events in a file and to listeners', async (t) => {
  const capabilities: Capabilities = { bounding: ['CAP_KILL', 'CAP_NOPE'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };
  await withContainer(t, spec({ capabilities, noNewPrivileges: true }), { args: ['sleep', '60'], cwd: '/' }, (init, _exec, runtime, events) => {
    const actions = events.map((event) => `${event.process} ${event.decision} ${event.action}`);
    t.deepEqual(actions, ['init deny capabilities.skip', 'init change capabilities.bounding.drop', 'init change capabilities.set', 'init change no_new_privs.set', 'exec deny capabilities.skip', 'exec change capabilities.bounding.drop', 'exec change capabilities.set', 'exec change no_new_privs.set']);
    t.is(events[0]!.pid, init);
    t.is(events[0]!.plugin, PLUGIN_NAME);
    t.is(events[0]!.field, 'process.capabilities.bounding[1]');
    t.true((events[1]!.detail!['dropped'] as string[]).includes('CAP_SYS_ADMIN'));
    t.false((events[1]!.detail!['dropped'] as string[]).includes('CAP_KILL'));
    const id = events[0]!.container;
    const lines = readFileSync(join(runtime.stateRoot, id, AUDIT_FILE), 'utf8').trim().split('\n');
    t.deepEqual(
      lines.map((line) => JSON.parse(line) as AuditEvent),
      events,
    );
  });
});
