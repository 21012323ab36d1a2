import { lstatSync, readlinkSync } from 'node:fs';
import type { Plan } from '@bulkhead/core';

/** Host directories the built-in root shares read-only. */
export const HOST_DIRECTORIES = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'] as const;

/** Host files hidden in the built-in root even though /etc is shared: they hold password hashes. */
const HIDDEN_FILES = ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-'] as const;

/**
 * Plans the built-in root: a fresh tmpfs holding read-only binds of the host's system
 * directories (or the same symlinks where the host has merged /usr), and a writable /tmp of
 * 64 MiB. The tmpfs itself becomes read-only after pivot_root. The
 * tmpfs is mounted over the container's state directory inside the container's own mount
 * namespace, so the host sees no mount at all.
 */
export function planBuiltinRoot(plan: Plan, plugin: string, stateDir: string, recursiveReadonly: boolean): void {
  // Small: after setup it holds only mount points and links, and it is made read-only after pivot_root.
  plan.add(plugin, 'filesystem', { op: 'mount', source: 'tmpfs', target: { path: stateDir }, fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_NODEV'], data: 'mode=755,size=1m', create: 'none' });
  plan.add(plugin, 'filesystem', { op: 'open-root', path: stateDir, slot: 'rootfs' });

  for (const directory of HOST_DIRECTORIES) planHostDirectory(plan, plugin, directory, recursiveReadonly);
  for (const file of HIDDEN_FILES) {
    if (existsOnHost(file)) {
      plan.add(plugin, 'filesystem', { op: 'mount', source: '/dev/null', target: { path: file, root: 'rootfs' }, fstype: null, flags: ['MS_BIND'], data: null, create: 'none' });
    }
  }
  for (const directory of ['/tmp', '/root', '/proc', '/dev', '/sys']) {
    plan.add(plugin, 'filesystem', { op: 'mkdir', target: { path: directory, root: 'rootfs' }, mode: directory === '/tmp' ? 0o1777 : 0o755 });
  }
  plan.add(plugin, 'filesystem', { op: 'mount', source: 'tmpfs', target: { path: '/tmp', root: 'rootfs' }, fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_NODEV'], data: `mode=1777,size=${BUILTIN_TMP_SIZE}`, create: 'directory' });
}

/** Size of the built-in root's writable /tmp: the size runc's default spec gives /dev/shm. */
export const BUILTIN_TMP_SIZE = '65536k';

/** Makes the built-in root read-only once pivot_root made it "/": only /tmp stays writable. */
export function planBuiltinRootReadonly(plan: Plan, plugin: string): void {
  plan.add(plugin, 'pivot', { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags: ['MS_REMOUNT', 'MS_RDONLY', 'MS_NOSUID', 'MS_NODEV'], data: null, create: 'none' });
}

function planHostDirectory(plan: Plan, plugin: string, directory: string, recursiveReadonly: boolean): void {
  const kind = hostKind(directory);
  const target = { path: directory, root: 'rootfs' };
  if (kind === 'symlink') {
    plan.add(plugin, 'filesystem', { op: 'symlink', linkTarget: readlinkSync(directory), link: target });
  } else if (kind === 'directory') {
    plan.add(plugin, 'filesystem', { op: 'mount', source: directory, target, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, create: 'directory' });
    if (recursiveReadonly) {
      plan.add(plugin, 'filesystem', { op: 'mount-setattr', target, set: ['MOUNT_ATTR_RDONLY', 'MOUNT_ATTR_NOSUID', 'MOUNT_ATTR_NODEV'], clear: [], propagation: null, recursive: true });
    } else {
      // NOTE: before Linux 5.12 (no mount_setattr) only the top mount becomes read-only; mounts
      // below it on the host, such as a separate /usr/local, stay writable in the container.
      plan.add(plugin, 'filesystem', { op: 'mount', source: null, target, fstype: null, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY', 'MS_NOSUID', 'MS_NODEV'], data: null, create: 'none' });
    }
  }
}

function hostKind(path: string): 'symlink' | 'directory' | 'missing' {
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return 'symlink';
    return stat.isDirectory() ? 'directory' : 'missing';
  } catch {
    return 'missing';
  }
}

function existsOnHost(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
