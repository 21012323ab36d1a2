import { posix } from 'node:path';
import { findNamespace, type ContainerSpec, type Mount, type MountFlag, type PathArg, type Plan } from '@bulkhead/core';
import type { CgroupRecord } from './driver.js';

/**
 * Mounts of these types are planned here, not by the mount plugin, because only this plugin has the
 * container's cgroup directories in its record, and a plain cgroup mount would show the host's whole tree (on
 * cgroup v1 the kernel even refuses it with EBUSY when the options differ from the host's mount).
 */
export const CGROUP_MOUNT_TYPES: ReadonlySet<string> = new Set(['cgroup', 'cgroup2']);

/** Flags every cgroup mount gets, as other runtimes set them. */
const BASE_FLAGS: MountFlag[] = ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'];

/** Returns the spec's mounts that this plugin plans: cgroup and cgroup2 mounts that are not binds. */
export function cgroupMounts(spec: ContainerSpec): Mount[] {
  return (spec.mounts ?? []).filter((mount) => CGROUP_MOUNT_TYPES.has(mount.type ?? '') && !isBind(mount));
}

function isBind(mount: Mount): boolean {
  return (mount.options ?? []).some((option) => option === 'bind' || option === 'rbind');
}

/** Returns whether the mount ends read-only. The last of "ro" and "rw" wins, as in fstab. */
function readonly(mount: Mount): boolean {
  return (mount.options ?? []).filter((option) => option === 'ro' || option === 'rw').at(-1) === 'ro';
}

/**
 * Plans one cgroup mount, showing the container its own cgroups only.
 *
 * cgroup v1: a tmpfs at the destination, and in it, for each hierarchy, a bind of the container's
 * directory of that hierarchy, named as the host names the hierarchy's mount ("memory",
 * "cpu,cpuacct"), with a symlink per controller of a co-mounted hierarchy ("cpu" ->
 * "cpu,cpuacct"). Named hierarchies such as name=systemd are not shown.
 *
 * cgroup v2: a cgroup2 mount when the container has a cgroup namespace of its own, whose root is
 * the container's cgroup. Without one, a bind of the container's directory.
 *
 * Without a record (a non-root user's container that runs without a cgroup) the destination gets
 * an empty tmpfs: there is no directory of the container's own to show.
 */
export function planCgroupMount(plan: Plan, plugin: string, spec: ContainerSpec, mount: Mount, record: CgroupRecord | undefined): void {
  const target: PathArg = { path: mount.destination, root: 'rootfs' };
  const flags: MountFlag[] = readonly(mount) ? [...BASE_FLAGS, 'MS_RDONLY'] : BASE_FLAGS;
  if (record === undefined) {
    plan.add(plugin, 'filesystem', { op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags, data: 'mode=755', create: 'directory' });
  } else if (record.version === 'v1') {
    planV1(plan, plugin, record, target, flags);
  } else {
    planV2(plan, plugin, spec, record, mount.destination, flags);
  }
}

function planV1(plan: Plan, plugin: string, record: CgroupRecord, target: PathArg, flags: MountFlag[]): void {
  plan.add(plugin, 'filesystem', { op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: BASE_FLAGS, data: 'mode=755', create: 'directory' });
  for (const [key, directory] of Object.entries(record.directories)) {
    const name = posix.basename(record.mountpoints[key]!);
    planBind(plan, plugin, directory, { ...target, path: posix.join(target.path, name) }, flags);
    for (const controller of key.split(',').filter((c) => c !== name && key !== 'unified')) {
      plan.add(plugin, 'filesystem', { op: 'symlink', linkTarget: name, link: { ...target, path: posix.join(target.path, controller) } });
    }
  }
  if (flags.includes('MS_RDONLY')) plan.add(plugin, 'filesystem', remount(target, flags));
}

function planV2(plan: Plan, plugin: string, spec: ContainerSpec, record: CgroupRecord, destination: string, flags: MountFlag[]): void {
  const namespace = findNamespace(spec, 'cgroup');
  if (namespace === undefined) {
    planBind(plan, plugin, record.directories['unified']!, { path: destination, root: 'rootfs' }, flags);
  } else if (namespace.path !== undefined) {
    // A joined namespace exists from the start: its root is whatever cgroup it was made at.
    plan.add(plugin, 'filesystem', { op: 'mount', source: 'cgroup2', target: { path: destination, root: 'rootfs' }, fstype: 'cgroup2', flags, data: null, create: 'directory' });
  } else {
    // The new namespace is unshared in the host phase, after pivot_root (see the plan tap): a
    // cgroup2 mount shows the namespace's root only when made after that, inside the new root.
    plan.add(plugin, 'host', { op: 'mount', source: 'cgroup2', target: { path: destination }, fstype: 'cgroup2', flags, data: null, create: 'none' });
  }
}

/** Binds a host cgroup directory at target, then sets the flags, which a bind ignores. */
function planBind(plan: Plan, plugin: string, source: string, target: PathArg, flags: MountFlag[]): void {
  plan.add(plugin, 'filesystem', { op: 'mount', source, target, fstype: null, flags: ['MS_BIND'], data: null, create: 'directory' });
  plan.add(plugin, 'filesystem', remount(target, flags));
}

function remount(target: PathArg, flags: MountFlag[]) {
  return { op: 'mount' as const, source: null, target, fstype: null, flags: ['MS_REMOUNT', 'MS_BIND', ...flags] as MountFlag[], data: null, create: 'none' as const };
}
