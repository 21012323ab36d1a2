import type { Container } from '@bulkhead/core';
import type { CgroupDriver, CgroupRecord, CgroupStats } from './driver.js';
import { enforcementEvents, readCounters, toRuncStats, type CgroupEvent, type EnforcementCounters } from './events.js';
import type { CgroupFs } from './fs.js';
import { openNotifier, type Notifier } from './notify.js';

export interface CgroupEventOptions {
  /** Milliseconds between stats events, as runc's --interval; 0 for none. Default 5000. */
  statsInterval?: number;
  /**
   * Milliseconds between readings of the counters when no kernel notification arrives. Default
   * 1000. Counters without notifications (cpu.stat, and on v1 pids.events and memory.failcnt)
   * are seen this late.
   */
  pollInterval?: number;
  /** Ends the stream. */
  signal?: AbortSignal;
}

/**
 * The enforcement events of one container's cgroup, as an async iterator. Counting starts when
 * the stream is made. The stream ends when the cgroup has no process left or is gone, after
 * reporting what the last reading found, or on `close` or the abort signal.
 */
export class CgroupEventStream implements AsyncIterableIterator<CgroupEvent> {
  /** Kernel notifications that wake this stream, empty when it only polls. */
  readonly sources: string[];
  private readonly notifier: Notifier;
  private readonly queue: CgroupEvent[] = [];
  private counters: EnforcementCounters;
  private previous: CgroupStats;
  private nextStats: number;
  private done = false;
  private wake: (() => void) | undefined;
  private pending = false;
  private readonly statsInterval: number;
  private readonly pollInterval: number;

  constructor(
    private readonly container: Container,
    private readonly driver: CgroupDriver,
    fs: CgroupFs,
    record: CgroupRecord,
    options: CgroupEventOptions = {},
  ) {
    this.statsInterval = options.statsInterval ?? 5000;
    this.pollInterval = options.pollInterval ?? 1000;
    this.previous = driver.stats();
    this.counters = readCounters(this.previous);
    this.nextStats = Date.now() + this.statsInterval;
    this.notifier = openNotifier(fs, container.syscalls, record, () => this.notify());
    this.sources = this.notifier.sources;
    options.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<CgroupEvent>> {
    while (this.queue.length === 0 && !this.done) await this.poll();
    const event = this.queue.shift();
    return event === undefined ? { done: true, value: undefined } : { done: false, value: event };
  }

  async return(): Promise<IteratorResult<CgroupEvent>> {
    await this.close();
    return { done: true, value: undefined };
  }

  /** Ends the stream and releases the notifications. Safe to call again. */
  async close(): Promise<void> {
    if (this.done && this.queue.length === 0) return;
    this.done = true;
    this.queue.length = 0;
    this.notify();
    await this.notifier.close();
  }

  private notify(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Waits for a notification or the next poll, then reads the counters once. */
  private async poll(): Promise<void> {
    await this.sleep();
    if (this.done) return;
    // Emptiness first, counters second: a process that the kernel OOM-killed has its kill
    // counted before it exits, so a reading taken after the cgroup was seen empty includes it.
    const populated = this.driver.exists() && this.driver.populated();
    const stats = this.readStats();
    if (stats === undefined) return this.finish();

    this.queue.push(...enforcementEvents(this.container.id, this.counters, this.previous, stats, new Date().toISOString()));
    this.counters = readCounters(stats);
    this.previous = stats;
    if (this.statsInterval > 0 && Date.now() >= this.nextStats) {
      this.queue.push({ type: 'stats', id: this.container.id, data: toRuncStats(stats) });
      this.nextStats = Date.now() + this.statsInterval;
    }
    if (!populated) await this.finish();
  }

  /** Returns the statistics, or undefined once the cgroup is gone. */
  private readStats(): CgroupStats | undefined {
    if (!this.driver.exists()) return undefined;
    try {
      return this.driver.stats();
    } catch (error) {
      // Removed between the check and the reads.
      if (!this.driver.exists()) return undefined;
      throw error;
    }
  }

  private async finish(): Promise<void> {
    this.done = true;
    await this.notifier.close();
  }

  private async sleep(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return;
    }
    const due = this.statsInterval > 0 ? Math.min(this.pollInterval, Math.max(0, this.nextStats - Date.now())) : this.pollInterval;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, due);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
    this.pending = false;
  }
}
