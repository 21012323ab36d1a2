import type { Plan } from './plan/plan.js';
import { findNamespace, type ContainerSpec, type NamespaceType } from './spec.js';

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
