import { findNamespace, type ContainerSpec, type MountAttr, type MountFlag, type PathArg, type Plan, type Step } from '@bulkhead/core';

/**
 * Mounts inside a new user namespace. The kernel locks the flags of every mount that the
 * namespace inherited (nosuid, nodev, noexec, read-only, atime): a remount that would drop one
 * fails with EPERM. mount_setattr(2) changes only the attributes it names, so the locked ones
 * stay as they are. The kernel also refuses a new sysfs unless the user namespace owns the network
 * namespace, so without a new network namespace /sys is bound from the host instead.
 */
export interface UsernsContext {
  /** The spec creates a user namespace. */
  userns: boolean;
  /** The user namespace also owns a new network namespace. */
  ownsNetwork: boolean;
  /** mount_setattr(2) exists (Linux 5.12). */
  mountSetattr: boolean;
}

/** Mount flags that mount_setattr(2) expresses as attributes. */
const ATTRS: Partial<Record<MountFlag, MountAttr>> = {
  MS_RDONLY: 'MOUNT_ATTR_RDONLY',
  MS_NOSUID: 'MOUNT_ATTR_NOSUID',
  MS_NODEV: 'MOUNT_ATTR_NODEV',
  MS_NOEXEC: 'MOUNT_ATTR_NOEXEC',
  MS_NOSYMFOLLOW: 'MOUNT_ATTR_NOSYMFOLLOW',
};

export function usernsContext(spec: ContainerSpec, mountSetattr: boolean): UsernsContext {
  const user = findNamespace(spec, 'user');
  const network = findNamespace(spec, 'network');
  return { userns: user !== undefined && user.path === undefined, ownsNetwork: network !== undefined && network.path === undefined, mountSetattr };
}

/**
 * Returns the step that sets a bind mount's flags: mount_setattr in a user namespace, where a
 * remount would have to repeat every locked flag, else a bind remount. Flags that mount_setattr
 * cannot express (atime, sync) keep the remount, which a user namespace may reject with EPERM.
 */
export function bindFlagsStep(context: UsernsContext, target: PathArg, flags: readonly MountFlag[], recursive: boolean): Step {
  const attrs = flags.map((flag) => ATTRS[flag]);
  if (context.userns && context.mountSetattr && attrs.every((attr) => attr !== undefined)) {
    return { op: 'mount-setattr', target, set: attrs as MountAttr[], clear: [], propagation: null, recursive };
  }
  return { op: 'mount', source: null, target, fstype: null, flags: ['MS_REMOUNT', 'MS_BIND', ...flags], data: null, create: 'none' };
}

/** True when a sysfs mount must become a bind of the host's /sys: a user namespace that does not own the network namespace. */
export function needsSysfsBind(context: UsernsContext, type: string | undefined): boolean {
  return context.userns && !context.ownsNetwork && type === 'sysfs';
}

/** Binds the host's /sys recursively, then applies the spec's flags to the bind. */
export function planSysfsBind(plan: Plan, plugin: string, context: UsernsContext, target: PathArg, flags: readonly MountFlag[]): void {
  plan.add(plugin, 'filesystem', { op: 'mount', source: '/sys', target, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, create: 'directory' });
  if (flags.length > 0) plan.add(plugin, 'filesystem', bindFlagsStep(context, target, flags, true));
}
