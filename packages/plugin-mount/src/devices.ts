import type { Plan } from '@bulkhead/core';

/** Device nodes every container's /dev gets, bound from the host's so they work inside a user namespace too. */
export const DEFAULT_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

/** The conventional links of /dev. */
const DEV_SYMLINKS: readonly [string, string][] = [
  ['/dev/fd', '/proc/self/fd'],
  ['/dev/stdin', '/proc/self/fd/0'],
  ['/dev/stdout', '/proc/self/fd/1'],
  ['/dev/stderr', '/proc/self/fd/2'],
  ['/dev/core', '/proc/kcore'],
];

/**
 * Fills a fresh /dev: the default device nodes, except those `linux.devices` lists (specPaths),
 * the standard links, and /dev/ptmx pointing at the devpts instance when the spec mounts one at
 * /dev/pts.
 */
export function planDevices(plan: Plan, plugin: string, hasDevpts: boolean, specPaths: readonly string[] = []): void {
  for (const device of DEFAULT_DEVICES) {
    if (specPaths.includes(`/dev/${device}`)) continue;
    plan.add(plugin, 'filesystem', {
      op: 'mount',
      source: `/dev/${device}`,
      target: { path: `/dev/${device}`, root: 'rootfs' },
      fstype: null,
      flags: ['MS_BIND'],
      data: null,
      create: 'file',
    });
  }
  const links = hasDevpts ? [...DEV_SYMLINKS, ['/dev/ptmx', 'pts/ptmx'] as [string, string]] : DEV_SYMLINKS;
  for (const [link, target] of links) {
    plan.add(plugin, 'filesystem', { op: 'symlink', linkTarget: target, link: { path: link, root: 'rootfs' } }, ['EEXIST']);
  }
}
