import type { Cpu, LinuxResources, Memory } from './resources.js';

/**
 * Completes a change of linux.resources with the stored values that the cgroup files combine:
 * v2's cpu.max contains quota and period together, v2's memory.swap.max is computed from memory.limit
 * and memory.swap, and v1 must order memory.limit_in_bytes against memory.memsw.limit_in_bytes.
 * Without this, changing the quota alone would reset a custom period to the default.
 */
export function completeChange(stored: LinuxResources, change: LinuxResources): LinuxResources {
  const complete: LinuxResources = { ...change };
  if (change.cpu !== undefined && (change.cpu.quota !== undefined || change.cpu.period !== undefined)) {
    complete.cpu = { ...pick(stored.cpu, ['quota', 'period']), ...change.cpu };
  }
  if (change.memory !== undefined && (change.memory.limit !== undefined || change.memory.swap !== undefined)) {
    complete.memory = { ...pick(stored.memory, ['limit', 'swap']), ...change.memory };
  }
  return complete;
}

function pick<T extends Cpu | Memory, K extends keyof T>(value: T | undefined, keys: K[]): Partial<T> {
  const picked: Partial<T> = {};
  for (const key of keys) if (value?.[key] !== undefined) picked[key] = value[key];
  return picked;
}
