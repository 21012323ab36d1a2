import type { CgroupStats } from './driver.js';

/** Enforcement events, each named after the kernel counter it comes from; "oom" is runc's name. */
export type EnforcementType = 'oom' | 'memory.high' | 'memory.max' | 'pids.max' | 'cpu.throttled';

/** The kernel's enforcement counters at one moment, by event type. */
export type EnforcementCounters = Record<EnforcementType, number>;

/** One enforcement: what the counter rose by, and the limit and usage when it was read. */
export interface EnforcementData {
  /** How much the counter rose since the previous reading: kills, hits, or throttled CFS periods. */
  count: number;
  /** The counter's value as the kernel reports it. */
  total: number;
  /** The limit in force, in bytes or processes; 'max' when there is none. */
  limit?: number | 'max';
  /** Usage at that moment: bytes or processes. */
  usage?: number;
  /** For cpu.throttled: the throttled time added since the previous reading, in nanoseconds. */
  throttledNanoseconds?: number;
  /** When the counter was read, as an ISO 8601 time. */
  time: string;
}

/** A line of `bulkhead events`, in runc's shape: type, container id, data. */
export type CgroupEvent = { type: EnforcementType; id: string; data: EnforcementData } | { type: 'stats'; id: string; data: RuncStats };

/** Reads the enforcement counters out of a driver's statistics. */
export function readCounters(stats: CgroupStats): EnforcementCounters {
  return {
    oom: stats.memory?.oomKills ?? 0,
    'memory.high': stats.memory?.events['high'] ?? 0,
    'memory.max': stats.memory?.limitHits ?? 0,
    'pids.max': stats.pids?.limitHits ?? 0,
    'cpu.throttled': stats.cpu?.throttledPeriods ?? 0,
  };
}

/**
 * Returns an event for every counter that rose between `before` and `stats`. A counter that fell
 * (a cgroup that was recreated) starts over from zero instead of reporting a negative count.
 */
export function enforcementEvents(id: string, before: EnforcementCounters, previous: CgroupStats | undefined, stats: CgroupStats, time: string): CgroupEvent[] {
  const after = readCounters(stats);
  const events: CgroupEvent[] = [];
  for (const type of Object.keys(after) as EnforcementType[]) {
    const count = after[type] >= before[type] ? after[type] - before[type] : after[type];
    if (count > 0) events.push({ type, id, data: { count, total: after[type], ...figures(type, previous, stats), time } });
  }
  return events;
}

function figures(type: EnforcementType, previous: CgroupStats | undefined, stats: CgroupStats): Partial<EnforcementData> {
  if (type === 'pids.max') return { limit: stats.pids!.limit, usage: stats.pids!.current };
  if (type === 'cpu.throttled') return { throttledNanoseconds: stats.cpu!.throttledNanoseconds - (previous?.cpu?.throttledNanoseconds ?? 0) };
  const memory = stats.memory!;
  return { ...(memory.limit === undefined ? { limit: 'max' as const } : { limit: memory.limit }), usage: memory.usage };
}

/** The statistics of `runc events`: the same field names, for tools that read runc's output. */
export interface RuncStats {
  cpu: { usage: { total: number; kernel: number; user: number }; throttling: { periods: number; throttledPeriods: number; throttledTime: number } };
  memory: { usage: { limit?: number; usage: number; max?: number; failcnt: number }; swap?: { usage: number }; raw: Record<string, number> };
  pids: { current: number; limit?: number };
  /** Totals over every device, so entries carry no major and minor numbers. */
  blkio: { ioServiceBytesRecursive: { op: string; value: number }[]; ioServicedRecursive: { op: string; value: number }[] };
}

/** Converts a driver's statistics to runc's shape; a controller that is missing reads as zeros. */
export function toRuncStats(stats: CgroupStats): RuncStats {
  const cpu = stats.cpu;
  const memory = stats.memory;
  const io = stats.io ?? { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
  const result: RuncStats = {
    cpu: {
      usage: { total: cpu?.usageNanoseconds ?? 0, kernel: cpu?.systemNanoseconds ?? 0, user: cpu?.userNanoseconds ?? 0 },
      throttling: { periods: cpu?.periods ?? 0, throttledPeriods: cpu?.throttledPeriods ?? 0, throttledTime: cpu?.throttledNanoseconds ?? 0 },
    },
    memory: { usage: { usage: memory?.usage ?? 0, failcnt: memory?.limitHits ?? 0 }, raw: memory?.events ?? {} },
    pids: { current: stats.pids?.current ?? 0 },
    blkio: {
      ioServiceBytesRecursive: [{ op: 'Read', value: io.readBytes }, { op: 'Write', value: io.writeBytes }, { op: 'Total', value: io.readBytes + io.writeBytes }],
      ioServicedRecursive: [{ op: 'Read', value: io.readOps }, { op: 'Write', value: io.writeOps }, { op: 'Total', value: io.readOps + io.writeOps }],
    },
  };
  if (memory?.limit !== undefined) result.memory.usage.limit = memory.limit;
  if (memory?.maxUsage !== undefined) result.memory.usage.max = memory.maxUsage;
  if (memory?.swapUsage !== undefined) result.memory.swap = { usage: memory.swapUsage };
  if (typeof stats.pids?.limit === 'number') result.pids.limit = stats.pids.limit;
  return result;
}
