import { posix } from 'node:path';
import { BulkheadError, ErrorCode } from '@bulkhead/core';
import { readFile, type CgroupFs } from './fs.js';

/** A mounted cgroup v1 hierarchy and the runtime's own cgroup in it. */
export interface Hierarchy {
  /** Controllers attached to it, such as ["cpu", "cpuacct"] when they are mounted together. */
  controllers: string[];
  mountpoint: string;
  /** The runtime's own cgroup, relative to the mountpoint. */
  own: string;
}

/**
 * How cgroups are mounted. 'v1' may also have a cgroup2 mount ("hybrid", as systemd mounts it
 * at /sys/fs/cgroup/unified): it then holds the controllers that no v1 hierarchy has.
 */
export type Layout = { version: 'v2'; unified: string } | { version: 'v1'; hierarchies: Hierarchy[]; unified: string | undefined };

interface CgroupMount {
  fstype: 'cgroup' | 'cgroup2';
  root: string;
  mountpoint: string;
  options: string[];
}

/** Detects the layout from /proc/self/mountinfo and /proc/self/cgroup. */
export function detectLayout(fs: CgroupFs): Layout {
  const mounts = parseMountinfo(readFile(fs, '/proc/self/mountinfo'));
  const unified = mounts.find((mount) => mount.fstype === 'cgroup2')?.mountpoint;
  const hierarchies = ownCgroups(readFile(fs, '/proc/self/cgroup'))
    .map(({ controllers, path }) => hierarchyOf(mounts, controllers, path))
    .filter((hierarchy): hierarchy is Hierarchy => hierarchy !== undefined);
  if (hierarchies.length > 0) return { version: 'v1', hierarchies, unified };
  if (unified !== undefined) return { version: 'v2', unified };
  throw new BulkheadError(ErrorCode.SYSCALL_FAILED, 'detect cgroups: no cgroup or cgroup2 filesystem is mounted (see /proc/self/mountinfo)');
}

/** Parses mountinfo lines: ID PARENT DEV ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPEROPTIONS. */
function parseMountinfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const fstype = fields[separator + 1];
    if (separator < 0 || (fstype !== 'cgroup' && fstype !== 'cgroup2')) continue;
    mounts.push({ fstype, root: unescape(fields[3]!), mountpoint: unescape(fields[4]!), options: (fields[separator + 3] ?? '').split(',') });
  }
  return mounts;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses /proc/self/cgroup lines: ID:CONTROLLERS:PATH. Named hierarchies (name=systemd) carry no controller and are skipped. */
function ownCgroups(text: string): { controllers: string[]; path: string }[] {
  return text
    .split('\n')
    .map((line) => /^\d+:([^:]*):(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ controllers: match[1]!.split(',').filter((c) => c !== '' && !c.startsWith('name=')), path: match[2]! }))
    .filter((entry) => entry.controllers.length > 0);
}

function hierarchyOf(mounts: CgroupMount[], controllers: string[], path: string): Hierarchy | undefined {
  const mount = mounts.find((m) => m.fstype === 'cgroup' && controllers.every((c) => m.options.includes(c)));
  if (mount === undefined) return undefined;
  // Inside a container the mount may show only a subtree: its root is then a prefix of our path.
  const own = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) || '/' : path;
  return { controllers, mountpoint: mount.mountpoint, own };
}

/**
 * Resolves the container's cgroup directory in one hierarchy. An absolute cgroupsPath starts at
 * the hierarchy's root; a relative one, and the default "bulkhead/ID", start at the runtime's own
 * cgroup on v1, so the container stays under the limits the runtime itself runs under. On v2 a
 * relative path starts at the root, because the runtime's own cgroup holds processes and v2
 * forbids enabling controllers for the children of such a cgroup.
 */
export function cgroupDirectory(mountpoint: string, own: string, cgroupsPath: string): string {
  const base = cgroupsPath.startsWith('/') ? '/' : own;
  return posix.join(mountpoint, base, cgroupsPath);
}
