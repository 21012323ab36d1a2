import type { NamespaceRequest } from './plan/steps.js';
import type { NamespaceType } from './spec.js';

/** clone(2) flags of each namespace type. */
export const CLONE_FLAGS: Readonly<Record<NamespaceType, number>> = Object.freeze({
  time: 0x80,
  mount: 0x20000,
  cgroup: 0x2000000,
  uts: 0x4000000,
  ipc: 0x8000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
});

export const NAMESPACE_TYPES = Object.keys(CLONE_FLAGS) as NamespaceType[];

/**
 * Order in which existing namespaces are joined with setns(2). The user namespace comes first:
 * joining it grants the capabilities needed to join the others it owns. The mount namespace comes
 * last, because setns into it changes the root and working directory, after which /proc paths
 * given for the others might no longer resolve.
 */
const JOIN_ORDER: readonly NamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export function orderJoins(joins: readonly NamespaceRequest[]): NamespaceRequest[] {
  return [...joins].sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
}

/** The file name of each namespace under /proc/PID/ns. */
export const PROC_NS_NAMES: Readonly<Record<NamespaceType, string>> = Object.freeze({
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
  time: 'time',
});
