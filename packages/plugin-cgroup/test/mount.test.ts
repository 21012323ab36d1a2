import test from 'ava';
import { OCI_VERSION, Plan, type ContainerSpec, type Mount, type Namespace, type PlannedStep } from '@bulkhead/core';
import { DEFAULT_DEVICE_RULES, type CgroupRecord } from '../src/index.js';
import { cgroupMounts, planCgroupMount } from '../src/mount.js';
import { V1Driver } from '../src/v1.js';
import { V2Driver } from '../src/v2.js';
import { FakeFs } from './fake-fs.js';

const CGROUP_MOUNT: Mount = { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] };

const V1: CgroupRecord = {
  version: 'v1',
  directories: { memory: '/sys/fs/cgroup/memory/bulkhead/c1', 'cpu,cpuacct': '/sys/fs/cgroup/cpu,cpuacct/bulkhead/c1' },
  mountpoints: { memory: '/sys/fs/cgroup/memory', 'cpu,cpuacct': '/sys/fs/cgroup/cpu,cpuacct' },
  created: [],
};
const V2: CgroupRecord = { version: 'v2', directories: { unified: '/sys/fs/cgroup/bulkhead/c1' }, mountpoints: { unified: '/sys/fs/cgroup' }, created: [] };

function spec(namespaces: Namespace[] = [{ type: 'mount' }]): ContainerSpec {
  return { ociVersion: OCI_VERSION, mounts: [CGROUP_MOUNT], linux: { namespaces } };
}

function planned(s: ContainerSpec, record: CgroupRecord | undefined, mount = CGROUP_MOUNT): PlannedStep[] {
  const plan = new Plan();
  planCgroupMount(plan, 'test', s, mount, record);
  return plan.steps().filter((step) => step.step.op !== 'barrier');
}

const summary = (steps: PlannedStep[]) =>
  steps.map(({ phase, step }) => {
    if (step.op === 'symlink') return `${phase} symlink ${step.link.path} -> ${step.linkTarget}`;
    if (step.op !== 'mount') return `${phase} ${step.op}`;
    return `${phase} ${step.flags.includes('MS_REMOUNT') ? 'remount' : (step.fstype ?? 'bind')} ${step.source ?? ''} ${step.target.path} ${step.flags.filter((f) => f === 'MS_RDONLY').join('')}`.trim();
  });

test('cgroupMounts skips binds and other types', (t) => {
  const mounts: Mount[] = [CGROUP_MOUNT, { destination: '/a', type: 'cgroup2' }, { destination: '/b', type: 'cgroup', source: '/sys/fs/cgroup', options: ['rbind'] }, { destination: '/c', type: 'tmpfs' }];
  t.deepEqual(cgroupMounts({ ociVersion: OCI_VERSION, mounts }).map((m) => m.destination), ['/sys/fs/cgroup', '/a']);
});

test('v1 mount: tmpfs, binds and symlinks', (t) => {
  t.deepEqual(summary(planned(spec(), V1)), [
    'filesystem tmpfs tmpfs /sys/fs/cgroup',
    'filesystem bind /sys/fs/cgroup/memory/bulkhead/c1 /sys/fs/cgroup/memory',
    'filesystem remount  /sys/fs/cgroup/memory MS_RDONLY',
    'filesystem bind /sys/fs/cgroup/cpu,cpuacct/bulkhead/c1 /sys/fs/cgroup/cpu,cpuacct',
    'filesystem remount  /sys/fs/cgroup/cpu,cpuacct MS_RDONLY',
    'filesystem symlink /sys/fs/cgroup/cpu -> cpu,cpuacct',
    'filesystem symlink /sys/fs/cgroup/cpuacct -> cpu,cpuacct',
    'filesystem remount  /sys/fs/cgroup MS_RDONLY',
  ]);
  for (const { step } of planned(spec(), V1)) {
    let target;
    if (step.op === 'symlink') target = step.link;
    else if (step.op === 'mount') target = step.target;
    t.is(target?.root, 'rootfs');
  }
});

test('v1 rw mount: writable binds', (t) => {
  const steps = planned(spec(), V1, { ...CGROUP_MOUNT, options: ['ro', 'rw'] });
  t.false(steps.some(({ step }) => step.op === 'mount' && step.flags.includes('MS_RDONLY')));
});

test('v2 without cgroupns: a bind', (t) => {
  t.deepEqual(summary(planned(spec(), V2)), ['filesystem bind /sys/fs/cgroup/bulkhead/c1 /sys/fs/cgroup', 'filesystem remount  /sys/fs/cgroup MS_RDONLY']);
});

test('v2 with cgroupns: cgroup2 after unshare', (t) => {
  t.deepEqual(summary(planned(spec([{ type: 'mount' }, { type: 'cgroup' }]), V2)), ['host cgroup2 cgroup2 /sys/fs/cgroup MS_RDONLY']);
  t.deepEqual(summary(planned(spec([{ type: 'mount' }, { type: 'cgroup', path: '/proc/1/ns/cgroup' }]), V2)), ['filesystem cgroup2 cgroup2 /sys/fs/cgroup MS_RDONLY']);
});

test('no cgroup record: empty tmpfs', (t) => {
  t.deepEqual(summary(planned(spec(), undefined)), ['filesystem tmpfs tmpfs /sys/fs/cgroup MS_RDONLY']);
});

test('v1 device rules end with defaults', (t) => {
  const fs = new FakeFs(new Map([['/cg/devices/c1', '<dir>']]));
  const record: CgroupRecord = { version: 'v1', directories: { devices: '/cg/devices/c1' }, mountpoints: { devices: '/cg/devices' }, created: [] };
  new V1Driver(fs, record, () => undefined).apply({ devices: [{ allow: false, access: 'rwm' }] });
  const lines = fs.writes.map(([path, value]) => `${path.split('/').pop()} ${value}`);
  t.is(lines[0], 'devices.deny a *:* rwm');
  t.is(lines.length, 1 + DEFAULT_DEVICE_RULES.length);
  for (const expected of ['devices.allow c 1:3 rwm', 'devices.allow c 5:2 rwm', 'devices.allow c 136:* rwm', 'devices.allow c *:* m', 'devices.allow c 10:200 rwm']) t.true(lines.includes(expected), expected);
});

test('no device rules: nothing written', (t) => {
  const fs = new FakeFs(new Map([['/cg/devices/c1', '<dir>']]));
  const record: CgroupRecord = { version: 'v1', directories: { devices: '/cg/devices/c1' }, mountpoints: { devices: '/cg/devices' }, created: [] };
  new V1Driver(fs, record, () => undefined).apply({ devices: [] });
  t.deepEqual(fs.writes, []);
});

test('v2 device rules: accepted by check', (t) => {
  const problems = new V2Driver(new FakeFs(), V2, () => undefined).check({ devices: [{ allow: false, access: 'rwm' }] });
  t.deepEqual(problems, []);
});
