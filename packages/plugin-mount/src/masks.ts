import type { MountFlag, PathArg, Plan, Step } from '@bulkhead/core';

/**
 * Plans `linux.maskedPaths`: /dev/null is bound over a file, and an empty read-only tmpfs is
 * mounted over a directory. The plan cannot know which one a path is (most live in /proc, which
 * exists only in the child), so both steps are planned and each tolerates the errno of the wrong
 * kind: binding a file over a directory fails with ENOTDIR, and so does mounting a tmpfs over a
 * file, including the /dev/null just bound there. A missing path (ENOENT) needs no mask.
 */
export function planMaskedPaths(plan: Plan, plugin: string, paths: readonly string[]): void {
  for (const path of paths) {
    const target = { path, root: 'rootfs' };
    plan.add(plugin, 'pivot', { op: 'mount', source: '/dev/null', target, fstype: null, flags: ['MS_BIND'], data: null, create: 'none' }, ['ENOENT', 'ENOTDIR']);
    plan.add(plugin, 'pivot', { op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: ['MS_RDONLY', 'MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: 'size=0', create: 'none' }, ['ENOENT', 'ENOTDIR']);
  }
}

/**
 * Plans `linux.readonlyPaths`: each path is bound onto itself, then the bind is made read-only by
 * the step `flagsStep` returns (a bind remount, or mount_setattr in a user namespace).
 */
export function planReadonlyPaths(plan: Plan, plugin: string, paths: readonly string[], flagsStep: (target: PathArg, flags: MountFlag[]) => Step): void {
  for (const path of paths) {
    const target = { path, root: 'rootfs' };
    plan.add(plugin, 'pivot', { op: 'mount', source: null, target, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, create: 'none' }, ['ENOENT']);
    plan.add(plugin, 'pivot', flagsStep(target, ['MS_RDONLY', 'MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC']), ['ENOENT']);
  }
}
