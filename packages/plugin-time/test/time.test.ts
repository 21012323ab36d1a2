import test from 'ava';
import { encodePlan, OCI_VERSION, Runtime, type ContainerSpec, type Plugin } from '@bulkhead/core';
import { timePlugin } from '../src/index.js';

/** Claims the user namespace, as the user plugin does, so that specs with one validate. */
const userNamespaceOwner: Plugin = { name: 'test-user', core: '^0.1.0', owns: { namespaces: ['user'], fields: ['linux.uidMappings', 'linux.gidMappings'] }, apply() {} };

const runtime = (kernelHasTimeNamespaces = true) => new Runtime().use(timePlugin({ kernelHasTimeNamespaces: () => kernelHasTimeNamespaces })).use(userNamespaceOwner);

function spec(linux: NonNullable<ContainerSpec['linux']>): ContainerSpec {
  return { ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, linux };
}

const offsets = { boottime: { secs: 86400 }, monotonic: { secs: -5, nanosecs: 250 } };

test('offsets go into the setup section without a user namespace', (t) => {
  const plan = runtime().describe(spec({ namespaces: [{ type: 'time' }], timeOffsets: offsets }));
  t.deepEqual(plan.namespaces, [{ type: 'time', plugin: '@bulkhead/plugin-time' }]);
  t.deepEqual(plan.timeOffsets, [
    { plugin: '@bulkhead/plugin-time', clock: 'monotonic', secs: -5, nanosecs: 250 },
    { plugin: '@bulkhead/plugin-time', clock: 'boottime', secs: 86400, nanosecs: 0 },
  ]);
  t.false(plan.steps().some((s) => s.plugin === '@bulkhead/plugin-time'));
});

test('offsets are encoded after the joins', (t) => {
  const plan = runtime().describe(spec({ namespaces: [{ type: 'time' }], timeOffsets: { boottime: { secs: 86400, nanosecs: 7 } } }));
  const bytes = encodePlan(plan);
  // length, magic, version, clone_flags, join_count = 0, then the offsets.
  t.is(bytes.readUInt32LE(12), 0x80, 'CLONE_NEWTIME');
  t.is(bytes.readUInt32LE(16), 0, 'no joins');
  t.is(bytes.readUInt32LE(20), 1, 'one offset');
  t.is(bytes.readUInt32LE(24), 7, 'CLOCK_BOOTTIME');
  t.is(bytes.readBigInt64LE(28), 86400n);
  t.is(bytes.readBigInt64LE(36), 7n);
});

test('a new user namespace gets its time namespace from child steps', (t) => {
  const plan = runtime().describe(spec({ namespaces: [{ type: 'user' }, { type: 'time' }], timeOffsets: offsets }));
  t.deepEqual(plan.namespaces, []);
  t.deepEqual(plan.timeOffsets, []);
  t.deepEqual(
    plan.steps().filter((s) => s.plugin === '@bulkhead/plugin-time').map((s) => s.step),
    [
      { op: 'unshare', namespaces: ['time'] },
      { op: 'write-file', target: { path: '/proc/self/timens_offsets' }, data: 'monotonic -5 250\nboottime 86400 0\n' },
    ],
  );
});

test('a joined time namespace is planned as a join', (t) => {
  const plan = runtime().describe(spec({ namespaces: [{ type: 'time', path: '/proc/self/ns/time' }] }));
  t.deepEqual(plan.namespaces, [{ type: 'time', plugin: '@bulkhead/plugin-time', path: '/proc/self/ns/time' }]);
});

test('offsets without a new time namespace are rejected', (t) => {
  t.throws(() => runtime().validate(spec({ namespaces: [], timeOffsets: offsets })), { message: 'linux.timeOffsets: setting it needs a new time namespace in linux.namespaces' });
});

test('unknown clocks are rejected', (t) => {
  t.throws(() => runtime().validate(spec({ namespaces: [{ type: 'time' }], timeOffsets: { realtime: { secs: 1 } } })), {
    message: 'linux.timeOffsets.realtime: unknown clock: a time namespace offsets only monotonic and boottime',
  });
});

test('nanoseconds past one second are rejected', (t) => {
  t.throws(() => runtime().validate(spec({ namespaces: [{ type: 'time' }], timeOffsets: { boottime: { secs: 1, nanosecs: 1_000_000_000 } } })), {
    message: 'linux.timeOffsets.boottime.nanosecs: must be between 0 and 999999999, got 1000000000',
  });
});

test('kernel without time namespaces is named in the error', (t) => {
  t.throws(() => runtime(false).validate(spec({ namespaces: [{ type: 'pid' }, { type: 'time' }] })), {
    message: /linux\.namespaces\[1\]: time namespaces are not supported by this kernel: they need Linux 5\.6 or later built with CONFIG_TIME_NS/,
  });
});
