import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { Syscalls } from './native/syscalls.js';
import { NAMESPACE_TYPES, PROC_NS_NAMES } from './namespaces.js';
import type { NamespaceType } from './spec.js';

/** Features of the running kernel, as `bulkhead features` reports them and plugins consult them. */
export interface KernelFeatures {
  kernel: string;
  namespaces: NamespaceType[];
  cgroup: { mode: 'v1' | 'v2' | 'hybrid' | 'none'; v1Controllers: string[]; v2Controllers: string[] };
  seccomp: { actions: string[] };
  syscalls: Record<SyscallName, boolean>;
}

/**
 * Syscalls probed by number. Since Linux 5.1 new syscalls have the same number on every
 * architecture, so these hold for x86-64 and arm64 alike.
 */
const SYSCALLS = {
  pidfd_open: 434,
  clone3: 435,
  openat2: 437,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  mount_setattr: 442,
} as const;
type SyscallName = keyof typeof SYSCALLS;

/** Probes the running kernel. Reads /proc and /sys, and calls the probed syscalls with invalid arguments. */
export function probeKernel(syscalls: Syscalls): KernelFeatures {
  return {
    kernel: release(),
    namespaces: NAMESPACE_TYPES.filter((type) => existsSync(`/proc/self/ns/${PROC_NS_NAMES[type]}`)),
    cgroup: probeCgroups(),
    seccomp: { actions: readWords('/proc/sys/kernel/seccomp/actions_avail') },
    syscalls: Object.fromEntries(Object.entries(SYSCALLS).map(([name, number]) => [name, syscalls.syscallExists(number)])) as Record<SyscallName, boolean>,
  };
}

function probeCgroups(): KernelFeatures['cgroup'] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map(parseMount);
  const v2Mount = mounts.find((m) => m.fstype === 'cgroup2');
  const v1Controllers = mounts.filter((m) => m.fstype === 'cgroup').flatMap((m) => m.superOptions.split(',').filter((o) => !['rw', 'ro'].includes(o) && !o.startsWith('name=')));
  const v2Controllers = v2Mount === undefined ? [] : readWords(`${v2Mount.point}/cgroup.controllers`);
  const root = mounts.find((m) => m.point === '/sys/fs/cgroup');
  let mode: KernelFeatures['cgroup']['mode'] = 'none';
  if (root?.fstype === 'cgroup2') mode = 'v2';
  else if (v1Controllers.length > 0) mode = v2Mount === undefined ? 'v1' : 'hybrid';
  return { mode, v1Controllers: [...new Set(v1Controllers)].sort(), v2Controllers };
}

function parseMount(line: string): { point: string; fstype: string; superOptions: string } {
  const fields = line.split(' ');
  const separator = fields.indexOf('-');
  return { point: fields[4]!, fstype: fields[separator + 1]!, superOptions: fields[separator + 3] ?? '' };
}

function readWords(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').trim().split(/\s+/).filter((word) => word !== '');
  } catch {
    return [];
  }
}
