import { EventEmitter } from 'node:events';
import { posix } from 'node:path';
import type { Container } from '@bulkhead/core';
import type { CgroupDriver, CgroupRecord } from './driver.js';
import { errorCode, type CgroupFs } from './fs.js';
import { DEFAULT_POLICY, decide, parsePressure, type AdjustPolicy, type Streak } from './pressure.js';

/** Bounds and pacing of pressure-driven adjustment. */
export interface AdjustOptions {
  /** Bounds of the CFS quota, in CPUs (0.5 is half a CPU); the quota moves in steps of 10%. */
  cpu?: { min: number; max: number };
  /** Bounds in bytes of memory.high (v2) or memory.limit_in_bytes (v1); the limit moves in steps of 5%. */
  memory?: { min: number; max: number };
  /** Milliseconds between samples. Default 2000. */
  interval?: number;
  policy?: Partial<AdjustPolicy>;
}

export type AdjustedResource = 'cpu.quota' | 'memory.high' | 'memory.limit';

/** The audit record of one change: what moved, from and to, why, and the load figures that decided it. */
export interface AdjustEvent {
  type: 'adjust';
  id: string;
  data: {
    resource: AdjustedResource;
    /** Microseconds of quota per period for cpu.quota, bytes for memory. */
    from: number;
    to: number;
    reason: string;
    /** "some avg10" percentages: the system's, and the cgroup's own where the kernel has it (v2). */
    pressure: { system: number; cgroup?: number };
    /** CPUs used over the last interval for cpu.quota, bytes for memory. */
    usage: number;
    time: string;
  };
}

const CPU_STEP = 0.1;
const MEMORY_STEP = 0.05;

/**
 * Raises and lowers a container's CPU quota and memory limit from pressure stall information,
 * within the bounds given. Emits 'adjust' with an AdjustEvent for every change and 'error' when a
 * sample or a write fails (the controller keeps running). Where the kernel has no PSI
 * (before Linux 4.20, or booted with psi=0), `available` is false, `unavailableReason` gives the reason,
 * and `start` does nothing.
 */
export class PressureController extends EventEmitter<{ adjust: [AdjustEvent]; error: [Error] }> {
  readonly available: boolean;
  readonly unavailableReason: string | undefined;
  private readonly policy: AdjustPolicy;
  private timer: NodeJS.Timeout | undefined;
  private cpuStreak: Streak = { verdict: 'hold', count: 0 };
  private memoryStreak: Streak = { verdict: 'hold', count: 0 };
  private lastCpu: { usage: number; at: number } | undefined;

  constructor(
    private readonly container: Container,
    private readonly driver: CgroupDriver,
    private readonly fs: CgroupFs,
    private readonly record: CgroupRecord,
    private readonly options: AdjustOptions,
  ) {
    super();
    this.policy = { ...DEFAULT_POLICY, ...options.policy };
    this.unavailableReason = missingPressure(fs, options);
    this.available = this.unavailableReason === undefined;
  }

  /** Starts sampling every `interval`; does nothing when PSI is unavailable. The timer keeps Node running until `stop`. */
  start(): this {
    if (!this.available || this.timer !== undefined) return this;
    this.timer = setInterval(() => this.sample(), this.options.interval ?? 2000);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one sample of each bounded resource and applies what the policy decides. */
  sample(): void {
    if (!this.driver.exists()) return this.stop();
    try {
      if (this.options.cpu !== undefined) this.adjustCpu(this.options.cpu);
      if (this.options.memory !== undefined) this.adjustMemory(this.options.memory);
    } catch (error) {
      this.emit('error', error as Error);
    }
  }

  private adjustCpu(bounds: { min: number; max: number }): void {
    const { quota, period } = this.driver.cpuQuota();
    const usage = this.cpuUsage();
    if (usage === undefined) return;
    const limit = quota ?? Math.round(bounds.max * period);
    const pressure = this.pressure('cpu');
    // Usage and limit both in microseconds of CPU time per period.
    const decision = decide(this.cpuStreak, { pressure: pressure.system, usage: usage * period, limit }, this.policy, CPU_STEP, { min: Math.round(bounds.min * period), max: Math.round(bounds.max * period) });
    this.cpuStreak = decision.streak;
    if (decision.limit === undefined) return;
    this.driver.apply({ cpu: { quota: decision.limit, period } });
    this.audit('cpu.quota', limit, decision.limit, decision.reason, pressure, usage);
  }

  private adjustMemory(bounds: { min: number; max: number }): void {
    const { usage, limit: current, file } = this.driver.adjustableMemory();
    const limit = current ?? bounds.max;
    const pressure = this.pressure('memory');
    const decision = decide(this.memoryStreak, { pressure: pressure.system, usage, limit }, this.policy, MEMORY_STEP, bounds);
    this.memoryStreak = decision.streak;
    if (decision.limit === undefined) return;
    this.driver.apply(file === 'memory.high' ? { unified: { 'memory.high': String(decision.limit) } } : { memory: { limit: decision.limit } });
    this.audit(file === 'memory.high' ? 'memory.high' : 'memory.limit', limit, decision.limit, decision.reason, pressure, usage);
  }

  /** CPUs used since the previous sample, from the cgroup's usage counter; undefined on the first sample. */
  private cpuUsage(): number | undefined {
    const now = { usage: this.driver.stats().cpu?.usageNanoseconds ?? 0, at: Number(process.hrtime.bigint()) };
    const previous = this.lastCpu;
    this.lastCpu = now;
    if (previous === undefined || now.at <= previous.at) return undefined;
    return (now.usage - previous.usage) / (now.at - previous.at);
  }

  private pressure(resource: 'cpu' | 'memory'): { system: number; cgroup?: number } {
    const system = parsePressure(this.fs.read(`/proc/pressure/${resource}`))?.some.avg10 ?? 0;
    const unified = this.record.version === 'v2' ? this.record.directories['unified'] : undefined;
    const own = unified === undefined ? undefined : readPressure(this.fs, posix.join(unified, `${resource}.pressure`));
    return own === undefined ? { system } : { system, cgroup: own };
  }

  private audit(resource: AdjustedResource, from: number, to: number, reason: string, pressure: { system: number; cgroup?: number }, usage: number): void {
    const event: AdjustEvent = { type: 'adjust', id: this.container.id, data: { resource, from, to, reason, pressure, usage, time: new Date().toISOString() } };
    this.container.log.info({ audit: 'adjust', ...event.data }, `adjust ${resource} from ${from} to ${to}: ${reason}`);
    this.emit('adjust', event);
  }
}

/** Says why adjustment cannot run here, or returns undefined when the PSI files it needs are readable. */
function missingPressure(fs: CgroupFs, options: AdjustOptions): string | undefined {
  const resources = [...(options.cpu === undefined ? [] : ['cpu']), ...(options.memory === undefined ? [] : ['memory'])];
  for (const resource of resources) {
    const path = `/proc/pressure/${resource}`;
    try {
      if (parsePressure(fs.read(path)) === undefined) return `${path} has no "some" line`;
    } catch (error) {
      const code = errorCode(error);
      // Reading fails with EOPNOTSUPP when the kernel has PSI but was booted with psi=0.
      return code === 'ENOENT' ? `${path} is missing: the kernel has no pressure stall information (Linux 4.20 and later, CONFIG_PSI)` : `read ${path}: ${code}: pressure stall information is disabled (boot with psi=1)`;
    }
  }
  return undefined;
}

function readPressure(fs: CgroupFs, path: string): number | undefined {
  if (!fs.exists(path)) return undefined;
  return parsePressure(fs.read(path))?.some.avg10;
}
