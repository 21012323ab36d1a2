import type { Cpu, Memory } from './resources.js';

/** cpu.shares bounds of the kernel (MIN_SHARES and MAX_SHARES in kernel/sched/sched.h). */
const MIN_SHARES = 2;
const MAX_SHARES = 262144;

/**
 * Converts cgroup v1 cpu.shares to cgroup v2 cpu.weight by mapping [2, 262144] linearly onto
 * [1, 10000], as runc and crun do. Shares outside the range are clamped first, as the v1 kernel
 * clamps them, so 1 and huge values cannot underflow or overflow the result.
 */
export function sharesToWeight(shares: number): number {
  const clamped = Math.min(Math.max(shares, MIN_SHARES), MAX_SHARES);
  return 1 + Math.floor(((clamped - MIN_SHARES) * 9999) / (MAX_SHARES - MIN_SHARES));
}

/** Converts a blkio weight (10 to 1000) to io.weight (1 to 10000) by the same linear mapping. */
export function blkioWeightToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** The default CFS period of the kernel, in microseconds. */
export const DEFAULT_PERIOD = 100000;

/** cpu.max: "$QUOTA $PERIOD", where a quota of -1 or none is "max". */
export function cpuMax(cpu: Cpu): string {
  const quota = cpu.quota === undefined || cpu.quota === -1 ? 'max' : String(cpu.quota);
  return `${quota} ${cpu.period ?? DEFAULT_PERIOD}`;
}

/** A byte limit for cgroup v2 files, where -1 is "max". */
export function v2Limit(value: number): string {
  return value === -1 ? 'max' : String(value);
}

/**
 * memory.swap.max from the runtime-spec's memory.swap, which is the limit of memory and swap
 * together (v1's memory.memsw.limit_in_bytes): v2 limits swap alone, so the memory limit is
 * subtracted. Validation has checked that swap is -1 or at least the memory limit.
 */
export function swapMax(memory: Memory): string | undefined {
  if (memory.swap === undefined) return undefined;
  if (memory.swap === -1) return 'max';
  return String(memory.swap - memory.limit!);
}
