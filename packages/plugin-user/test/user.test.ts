import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec, type IdMapping } from '@bulkhead/core';
import { formatMap, readSubordinateRanges, userPlugin, type UserPluginOptions } from '../src/index.js';

const ROOT = { uid: 0, gid: 0, name: 'root' };
const ALICE = { uid: 1000, gid: 1000, name: 'alice' };

const subidDir = mkdtempSync(join(tmpdir(), 'bulkhead-subid-'));
process.once('exit', () => rmSync(subidDir, { recursive: true, force: true }));
const SUBUID = join(subidDir, 'subuid');
const SUBGID = join(subidDir, 'subgid');
writeFileSync(SUBUID, 'bob:200000:65536\nalice:100000:65536\n# comment\n');
writeFileSync(SUBGID, '1000:100000:65536\n');

function runtime(options: UserPluginOptions = {}): Runtime {
  return new Runtime().use(userPlugin({ caller: ROOT, subuidPath: SUBUID, subgidPath: SUBGID, findHelper: (name) => `/usr/bin/${name}`, ...options }));
}

const ranges = (own: number): IdMapping[] => [
  { containerID: 0, hostID: own, size: 1 },
  { containerID: 1, hostID: 100000, size: 65536 },
];

function spec(linux: Partial<NonNullable<ContainerSpec['linux']>> = {}, user = { uid: 0, gid: 0 }): ContainerSpec {
  return { ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/', user }, linux: { namespaces: [{ type: 'user' }], uidMappings: ranges(1000), gidMappings: ranges(1000), ...linux } };
}

test('new user namespace is planned with namespace ids first', (t) => {
  const plan = runtime().describe(spec());
  t.deepEqual(plan.namespaces, [{ type: 'user', plugin: '@bulkhead/plugin-user' }]);
  t.deepEqual(
    plan.steps().filter((s) => s.phase === 'filesystem').map((s) => s.step),
    [
      { op: 'setresgid', gid: 0 },
      { op: 'setresuid', uid: 0 },
      { op: 'prctl', option: 4, args: [1, 0, 0, 0] },
    ],
  );
});

test('namespace ids use the first mapping without root', (t) => {
  const mappings = [{ containerID: 1000, hostID: 1000, size: 1 }];
  const steps = runtime().describe(spec({ uidMappings: mappings, gidMappings: mappings }, { uid: 1000, gid: 1000 })).steps();
  t.like(steps.find((s) => s.step.op === 'setresuid')?.step, { uid: 1000 });
});

test('joined user namespace takes no mappings', (t) => {
  t.throws(() => runtime().validate(spec({ namespaces: [{ type: 'user', path: '/proc/self/ns/user' }] })), {
    message: 'linux.uidMappings: setting it needs a new user namespace in linux.namespaces; linux.gidMappings: setting it needs a new user namespace in linux.namespaces',
  });
});

test('new user namespace needs both maps', (t) => {
  t.throws(() => runtime().validate(spec({ gidMappings: undefined })), { message: /^linux\.gidMappings: is required with a new user namespace/ });
});

const invalidMaps: [string, IdMapping[], RegExp][] = [
  ['empty', [], /linux\.uidMappings: must contain at least one mapping/],
  ['zero size', [{ containerID: 0, hostID: 1, size: 0 }], /linux\.uidMappings\[0\]\.size: must be at least 1, got 0/],
  ['past 32 bits', [{ containerID: 0, hostID: 2 ** 32 - 2, size: 2 }], /linux\.uidMappings\[0\]\.hostID: range 4294967294\+2 is outside the 32-bit ids/],
  [
    'overlapping containerID',
    [
      { containerID: 0, hostID: 1000, size: 10 },
      { containerID: 5, hostID: 2000, size: 10 },
    ],
    /linux\.uidMappings\[1\]\.containerID: range overlaps linux\.uidMappings\[0\]/,
  ],
  [
    'overlapping hostID',
    [
      { containerID: 0, hostID: 1000, size: 10 },
      { containerID: 10, hostID: 1009, size: 1 },
    ],
    /linux\.uidMappings\[1\]\.hostID: range overlaps linux\.uidMappings\[0\]/,
  ],
];
for (const [name, uidMappings, message] of invalidMaps) {
  test(`uid map with ${name} is rejected`, (t) => {
    t.throws(() => runtime().validate(spec({ uidMappings })), { message });
  });
}

test('unmapped process ids are rejected', (t) => {
  const error = t.throws(() => runtime().validate(spec({}, { uid: 70000, gid: 70001, additionalGids: [5, 99999] } as never)));
  t.regex(error.message, /process\.user\.uid: uid 70000 is not mapped by linux\.uidMappings/);
  t.regex(error.message, /process\.user\.gid: gid 70001 is not mapped by linux\.gidMappings/);
  t.regex(error.message, /process\.user\.additionalGids\[1\]: gid 99999 is not mapped/);
  t.notRegex(error.message, /additionalGids\[0\]/);
});

test('non-root caller may map ranges delegated by name or uid', (t) => {
  t.notThrows(() => runtime({ caller: ALICE }).validate(spec()));
});

test('non-root caller is rejected for an undelegated range', (t) => {
  const uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 200000, size: 10 }];
  t.throws(() => runtime({ caller: ALICE }).validate(spec({ uidMappings })), {
    message: `linux.uidMappings[1]: host uids 200000-200009 are not delegated to user alice (uid 1000) in ${SUBUID}`,
  });
});

test('non-root caller without newuidmap is told to install it', (t) => {
  t.throws(() => runtime({ caller: ALICE, findHelper: () => undefined }).validate(spec()), {
    message: /linux\.uidMappings: mapping more than the caller's own uid needs newuidmap, which is not installed \(Debian and Ubuntu package uidmap\)/,
  });
});

test('non-root caller mapping its own ids needs no helper and denies setgroups', (t) => {
  const own = [{ containerID: 0, hostID: 1000, size: 1 }];
  const plan = runtime({ caller: ALICE, findHelper: () => undefined }).describe(spec({ uidMappings: own, gidMappings: own }));
  t.true(plan.setgroupsDenied);
  t.false(plan.steps().some((s) => s.step.op === 'setgroups'), 'no setgroups step, which would fail with EPERM');
});

test('root keeps setgroups', (t) => {
  const plan = runtime().describe(spec());
  t.false(plan.setgroupsDenied);
  t.true(plan.steps().some((s) => s.step.op === 'setgroups'));
});

test('additional gids with setgroups denied are rejected', (t) => {
  const own = [{ containerID: 0, hostID: 1000, size: 1 }];
  t.throws(() => runtime({ caller: ALICE }).validate(spec({ uidMappings: own, gidMappings: own }, { uid: 0, gid: 0, additionalGids: [0] } as never)), {
    message: /^process\.user\.additionalGids: needs setgroups, which is denied when a non-root user maps only its own gid/,
  });
});

test('maps are formatted one range a line', (t) => {
  t.is(formatMap(ranges(1000)), '0 1000 1\n1 100000 65536\n');
});

test('subordinate ranges skip comments and malformed lines', (t) => {
  const file = join(subidDir, 'mixed');
  writeFileSync(file, '# owner:start:count\nalice:100000:65536\nbroken\nbob:x:1\n\n');
  t.deepEqual(readSubordinateRanges(file), [{ owner: 'alice', start: 100000, count: 65536 }]);
  t.deepEqual(readSubordinateRanges(join(subidDir, 'missing')), []);
});
