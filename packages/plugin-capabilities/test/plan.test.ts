import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import { describeStep, encodePlan, OCI_VERSION, Runtime, type Capabilities, type Container, type ContainerSpec, type Process } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { CAPABILITIES, capabilitiesPlugin, execPrivileges, maskOf, PLUGIN_NAME } from '../src/index.js';

/** The capability lists podman writes into config.json: the same list in three sets, nothing inheritable or ambient. */
const PODMAN = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
const podman: Capabilities = { bounding: PODMAN, effective: PODMAN, permitted: PODMAN };

const spec = (process: Partial<Process>): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args: ['true'], cwd: '/', env: ['PATH=/usr/bin:/bin'], ...process },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
});

const runtime = (lastCapability = 40) => new Runtime().use(namespacesPlugin()).use(capabilitiesPlugin({ lastCapability }));

const pluginSteps = (process: Partial<Process>, lastCapability?: number) =>
  runtime(lastCapability)
    .describe(spec(process))
    .steps()
    .filter((s) => s.plugin === PLUGIN_NAME)
    .map((s) => ({ phase: s.phase, step: s.step }));

test('podman capability lists become bounding drops and one capset', (t) => {
  const steps = pluginSteps({ capabilities: podman });
  const dropped = steps.filter((s) => s.step.op === 'prctl' && s.step.option === 24).map((s) => (s.step as { args: number[] }).args[0]);
  const kept = PODMAN.map((name) => CAPABILITIES[name]!);
  t.deepEqual(dropped, Array.from({ length: 41 }, (_, cap) => cap).filter((cap) => !kept.includes(cap)));
  t.deepEqual(steps[0], { phase: 'limits', step: { op: 'prctl', option: 8, args: [1, 0, 0, 0] } });
  const capset = steps.find((s) => s.step.op === 'capset')!;
  t.is(capset.phase, 'privileges');
  t.like(capset.step, { effective: maskOf(PODMAN), permitted: maskOf(PODMAN), inheritable: 0n });
});

test('inheritable and ambient are empty unless given', (t) => {
  const steps = pluginSteps({ capabilities: podman });
  t.like(steps.find((s) => s.step.op === 'capset')!.step, { inheritable: 0n });
  // Only the clearing of every ambient capability, no raise.
  t.deepEqual(
    steps.filter((s) => s.step.op === 'prctl' && s.step.option === 47).map((s) => s.step),
    [{ op: 'prctl', option: 47, args: [4, 0, 0, 0], name: 'PR_CAP_AMBIENT_CLEAR_ALL' }],
  );
});

test('ambient capabilities are raised after capset', (t) => {
  const set = ['CAP_NET_BIND_SERVICE'];
  const steps = pluginSteps({ capabilities: { bounding: set, effective: set, permitted: set, inheritable: set, ambient: set } });
  const ops = steps.filter((s) => s.phase === 'privileges').map((s) => (s.step.op === 'prctl' ? `prctl ${s.step.option} ${s.step.args[0]} ${s.step.args[1]}` : s.step.op));
  t.deepEqual(ops, ['capset', 'prctl 47 4 0', 'prctl 47 2 10']);
});

test('bounding drop is described by capability name', (t) => {
  const drop = runtime()
    .describe(spec({ capabilities: {} }))
    .steps()
    .find((s) => s.plugin === PLUGIN_NAME && s.step.op === 'prctl' && s.step.option === 24)!;
  t.is(describeStep(drop.step), 'prctl PR_CAPBSET_DROP CAP_CHOWN');
});

test('absent set is empty: no bounding keeps nothing', (t) => {
  const steps = pluginSteps({ capabilities: { effective: [] } });
  t.is(steps.filter((s) => s.step.op === 'prctl' && s.step.option === 24).length, 41);
});

test('without capabilities the sets are left alone', (t) => {
  t.deepEqual(pluginSteps({}), []);
});

test('no_new_privs is set in the privileges phase', (t) => {
  t.deepEqual(pluginSteps({ noNewPrivileges: true }), [{ phase: 'privileges', step: { op: 'prctl', option: 38, args: [1, 0, 0, 0] } }]);
});

test('unknown capability is a warning and is skipped', (t) => {
  const validation = runtime().validate(spec({ capabilities: { bounding: ['CAP_CHOWN', 'CAP_FLY'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] } }));
  t.deepEqual(validation.warnings, [{ path: 'process.capabilities.bounding[1]', message: 'unknown capability "CAP_FLY"; skipped' }]);
  const capset = pluginSteps({ capabilities: { bounding: ['CAP_CHOWN', 'CAP_FLY'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] } }).find((s) => s.step.op === 'capset')!;
  t.like(capset.step, { effective: 1n, permitted: 1n });
});

test('capability newer than the kernel is skipped', (t) => {
  const set = ['CAP_CHOWN', 'CAP_CHECKPOINT_RESTORE'];
  const validation = runtime(39).validate(spec({ capabilities: { bounding: set, effective: set, permitted: set } }));
  t.is(validation.warnings.length, 3);
  t.is(validation.warnings[0]!.message, 'CAP_CHECKPOINT_RESTORE is not supported by this kernel, whose last capability is 39; skipped');
  const steps = pluginSteps({ capabilities: { bounding: set, effective: set, permitted: set } }, 39);
  // Capabilities 1 to 39 are dropped, 40 is beyond the kernel and never named in a step.
  t.is(steps.filter((s) => s.step.op === 'prctl' && s.step.option === 24).length, 39);
  t.like(steps.find((s) => s.step.op === 'capset')!.step, { permitted: 1n });
});

const invalid: [string, Partial<Process>, string][] = [
  ['effective outside permitted', { capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'] } }, 'process.capabilities.effective[0]: CAP_KILL must also be in permitted'],
  ['inheritable outside bounding', { capabilities: { bounding: [], inheritable: ['CAP_KILL'] } }, 'process.capabilities.inheritable[0]: CAP_KILL must also be in bounding'],
  ['ambient not inheritable', { capabilities: { bounding: ['CAP_KILL'], permitted: ['CAP_KILL'], ambient: ['CAP_KILL'] } }, 'process.capabilities.ambient[0]: CAP_KILL must also be in permitted and inheritable'],
  ['OOM score below range', { oomScoreAdj: -1001 }, 'process.oomScoreAdj: must be from -1000 to 1000; got -1001'],
  ['capability name not a string', { capabilities: { bounding: [7 as unknown as string] } }, 'process.capabilities.bounding[0]: must be a string'],
];
for (const [name, process, message] of invalid) {
  test(`rejects ${name}`, (t) => {
    const error = t.throws(() => runtime().validate(spec(process)));
    t.true(error.message.includes(message), error.message);
  });
}

test('exec takes the container privileges unless its own', (t) => {
  const container = { spec: spec({ capabilities: podman, noNewPrivileges: true }) } as Container;
  const plain: Process = { args: ['sh'], cwd: '/' };
  t.deepEqual(execPrivileges(container, plain), { ...plain, capabilities: podman, noNewPrivileges: true });
  const own: Process = { ...plain, capabilities: { bounding: [] }, noNewPrivileges: false };
  t.deepEqual(execPrivileges(container, own), own);
});

test('capset step is op 23 with three 64-bit masks', (t) => {
  const plan = runtime().describe(spec({ capabilities: { bounding: ['CAP_CHECKPOINT_RESTORE'], effective: ['CAP_CHECKPOINT_RESTORE'], permitted: ['CAP_CHECKPOINT_RESTORE'] } }));
  const wire = encodePlan(plan);
  // op 23, no tolerated errnos, three args; then 'i' and the little-endian int64 of bit 40, twice, and 'i' 0.
  const mask = Buffer.alloc(8);
  mask.writeBigInt64LE(1n << 40n);
  const expected = Buffer.concat([u32(23), u32(0), u32(3), Buffer.from('i'), mask, Buffer.from('i'), mask, Buffer.from('i'), Buffer.alloc(8)]);
  t.true(wire.includes(expected));
});

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

test('capability numbers match the kernel headers', (t) => {
  const header = '/usr/include/linux/capability.h';
  if (!existsSync(header)) {
    t.pass(`${header} is missing: install the Linux API headers to run this check`);
    return;
  }
  const text = readFileSync(header, 'utf8');
  for (const [name, number] of Object.entries(CAPABILITIES)) t.regex(text, new RegExp(`#define ${name}\\s+${number}\\b`), name);
});
