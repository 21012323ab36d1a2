import type { Container } from './container.js';
import type { Plan } from './plan/plan.js';
import { findNamespace, type ContainerSpec, type NamespaceType, type Process } from './spec.js';

/**
 * Plans the spec's namespace of this type: a new one when the entry has no path, the one at its
 * path otherwise, and nothing (the host's) when the spec has no entry. Returns what it planned.
 */
export function planNamespace(plan: Plan, plugin: string, spec: ContainerSpec, type: NamespaceType): 'new' | 'join' | 'host' {
  const entry = findNamespace(spec, type);
  if (entry === undefined) return 'host';
  plan.namespace(plugin, type, entry.path);
  return entry.path === undefined ? 'new' : 'join';
}

/**
 * Returns a copy of a process that `exec` starts, with each of `fields` it leaves unset taken
 * from the container's own process, as runc does for capabilities, no_new_privs and LSM labels.
 */
export function inheritFromInit<K extends keyof Process>(container: Container, process: Process, fields: readonly K[]): Process {
  const merged: Process = { ...process };
  for (const field of fields) {
    const value = process[field] ?? container.spec.process?.[field];
    if (value !== undefined) merged[field] = value;
  }
  return merged;
}
