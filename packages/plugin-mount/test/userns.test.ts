import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec, type NamespaceType, type PlannedStep, type Plugin } from '@bulkhead/core';
import { namespacesPlugin, RecordingSyscalls } from '@bulkhead/core/testing';
import { mountPlugin } from '../src/index.js';

const MOUNT_SETATTR = 442;
const rootfs = mkdtempSync(join(tmpdir(), 'bulkhead-rootfs-'));
process.once('exit', () => rmSync(rootfs, { recursive: true, force: true }));

function runtime(options: { mountSetattr?: boolean; namespaces?: NamespaceType[] } = {}): Runtime {
  const syscalls = new RecordingSyscalls();
  if (options.mountSetattr === false) syscalls.missingSyscalls.add(MOUNT_SETATTR);
  return new Runtime({ syscalls, stateRoot: '/run/bulkhead-test' }).use(mountPlugin()).use(namespacesPlugin(options.namespaces ?? ['user'])).use(mappingsOwner);
}

/** Claims the user namespace maps, as the user plugin does, so that specs with them validate. */
const mappingsOwner: Plugin = { name: 'test-mappings', core: '^0.1.0', owns: { fields: ['linux.uidMappings', 'linux.gidMappings'] }, apply() {} };

function spec(extra: Partial<ContainerSpec> = {}, namespaces: NamespaceType[] = ['user']): ContainerSpec {
  return { ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, root: { path: rootfs }, linux: { namespaces: [{ type: 'mount' }, ...namespaces.map((type) => ({ type }))] }, ...extra };
}

const mine = (steps: PlannedStep[]) => steps.filter((s) => s.plugin === '@bulkhead/plugin-mount').map((s) => s.step);
const sysfs = { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };

test('sysfs without own netns binds /sys', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [sysfs] })).steps());
  t.like(steps[3], { op: 'mount', source: '/sys', target: { path: '/sys', root: 'rootfs' }, fstype: null, flags: ['MS_BIND', 'MS_REC'] });
  t.deepEqual(steps[4], { op: 'mount-setattr', target: { path: '/sys', root: 'rootfs' }, set: ['MOUNT_ATTR_NOSUID', 'MOUNT_ATTR_NOEXEC', 'MOUNT_ATTR_NODEV', 'MOUNT_ATTR_RDONLY'], clear: [], propagation: null, recursive: true });
});

test('sysfs with own netns is new', (t) => {
  const steps = mine(runtime({ namespaces: ['user', 'network'] }).describe(spec({ mounts: [sysfs] }, ['user', 'network'])).steps());
  t.like(steps[3], { op: 'mount', source: 'sysfs', fstype: 'sysfs' });
});

test('sysfs without a user namespace is a new sysfs', (t) => {
  const steps = mine(runtime({ namespaces: [] }).describe(spec({ mounts: [sysfs] }, [])).steps());
  t.like(steps[3], { op: 'mount', source: 'sysfs', fstype: 'sysfs' });
});

test('bind flags in a user namespace use mount_setattr, keeping locked flags', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/data', source: '/srv', options: ['rbind', 'ro'] }] })).steps());
  t.deepEqual(steps[4], { op: 'mount-setattr', target: { path: '/data', root: 'rootfs' }, set: ['MOUNT_ATTR_RDONLY'], clear: [], propagation: null, recursive: true });
});

test('bind flags that mount_setattr cannot express keep the remount', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/data', source: '/srv', options: ['bind', 'ro', 'noatime'] }] })).steps());
  t.like(steps[4], { op: 'mount', flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY', 'MS_NOATIME'] });
});

test('read-only root in a user namespace uses mount_setattr', (t) => {
  const steps = mine(runtime().describe(spec({ root: { path: rootfs, readonly: true } })).steps());
  t.deepEqual(steps.at(-1), { op: 'mount-setattr', target: { path: '/' }, set: ['MOUNT_ATTR_RDONLY'], clear: [], propagation: null, recursive: false });
});

test('read-only root before Linux 5.12 falls back to a remount', (t) => {
  const steps = mine(runtime({ mountSetattr: false }).describe(spec({ root: { path: rootfs, readonly: true } })).steps());
  t.like(steps.at(-1), { op: 'mount', flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'] });
});

test('read-only paths in a user namespace use mount_setattr', (t) => {
  const steps = mine(runtime().describe(spec({ linux: { namespaces: [{ type: 'mount' }, { type: 'user' }], readonlyPaths: ['/proc/sys'] } })).steps());
  t.deepEqual(steps[4], { op: 'mount-setattr', target: { path: '/proc/sys', root: 'rootfs' }, set: ['MOUNT_ATTR_RDONLY', 'MOUNT_ATTR_NOSUID', 'MOUNT_ATTR_NODEV', 'MOUNT_ATTR_NOEXEC'], clear: [], propagation: null, recursive: false });
});

const maps = [{ containerID: 0, hostID: 300000, size: 65536 }];

test('idmap bind is prepared before clone and attached in the root', (t) => {
  const linux = { namespaces: [{ type: 'mount' as const }, { type: 'user' as const }], uidMappings: maps, gidMappings: maps };
  const steps = mine(runtime().describe(spec({ linux, mounts: [{ destination: '/data', source: rootfs, options: ['rbind', 'ridmap', 'ro'] }] })).steps());
  t.deepEqual(steps.slice(3, 7), [
    { op: 'idmap-tree', source: rootfs, slot: 'idmap-0', recursive: true, recursiveIdmap: true, uidMappings: maps, gidMappings: maps },
    { op: 'mkdir', target: { path: '/data', root: 'rootfs' }, mode: 0o755 },
    { op: 'move-mount', slot: 'idmap-0', target: { path: '/data', root: 'rootfs' } },
    { op: 'mount-setattr', target: { path: '/data', root: 'rootfs' }, set: ['MOUNT_ATTR_RDONLY'], clear: [], propagation: null, recursive: true },
  ]);
});

test('idmap mount takes its own mappings first', (t) => {
  const own = [{ containerID: 0, hostID: 1000, size: 1 }];
  const linux = { namespaces: [{ type: 'mount' as const }, { type: 'user' as const }], uidMappings: maps, gidMappings: maps };
  const steps = mine(runtime().describe(spec({ linux, mounts: [{ destination: '/data', source: rootfs, options: ['bind', 'idmap'], uidMappings: own, gidMappings: own }] })).steps());
  t.like(steps[3], { op: 'idmap-tree', recursive: false, recursiveIdmap: false, uidMappings: own, gidMappings: own });
});

test('idmap without any mappings is rejected', (t) => {
  t.throws(() => runtime().validate(spec({ mounts: [{ destination: '/data', source: rootfs, options: ['bind', 'idmap'] }] })), {
    message: 'mounts[0].uidMappings: is required with idmap when linux.uidMappings is not set; mounts[0].gidMappings: is required with idmap when linux.gidMappings is not set',
  });
});

test('mount mappings without idmap are rejected', (t) => {
  t.throws(() => runtime().validate(spec({ mounts: [{ destination: '/data', source: rootfs, options: ['bind'], uidMappings: maps }] })), {
    message: 'mounts[0].options: uidMappings and gidMappings of a mount need the idmap or ridmap option',
  });
});

test('idmap of a non-bind mount is rejected', (t) => {
  t.throws(() => runtime().validate(spec({ mounts: [{ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['idmap'], uidMappings: maps, gidMappings: maps }] })), {
    message: 'mounts[0].options: idmap needs a bind mount: this runtime idmaps only bind mounts',
  });
});

test('idmap of a file is rejected', (t) => {
  t.throws(() => runtime().validate(spec({ mounts: [{ destination: '/data', source: '/etc/hostname', options: ['bind', 'idmap'], uidMappings: maps, gidMappings: maps }] })), {
    message: 'mounts[0].source: /etc/hostname is not a directory: this runtime idmaps only directories',
  });
});
