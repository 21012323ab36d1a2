import { EventEmitter } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_FILE, type AuditEvent, type Container, type ContainerSpec } from '@bulkhead/core';
import { ANNOTATIONS, PLUGIN_NAME, readNetworkConfig } from './config.js';
import { intrusionSignals, type IntrusionSignals } from './intrusion.js';
import type { NetTools } from './tools.js';

/** The audit action of a source that the detectors blocked. */
export const INTRUSION_ACTION = 'network.intrusion.block';

/** The JSON path of the detectors' settings, the field behind each block. */
export const INTRUSION_FIELD = `annotations["${ANNOTATIONS.firewall}"].intrusion`;

/**
 * Largest difference between two readings' expiry of one block. nft reports the seconds left in
 * whole seconds, so the expiry worked out at two readings differs by up to a second.
 */
const EXPIRY_SLACK_MS = 2000;

/** One newly blocked source, as a line of `bulkhead events`: in runc's shape, type, container id, data. */
export interface IntrusionEvent {
  type: 'intrusion';
  id: string;
  data: {
    address: string;
    /** Seconds left of the block when it was read. */
    expiresIn: number;
    /** The detectors' packet counters for the whole container at that reading, not for this source alone. */
    synFlood: number;
    portScan: number;
    droppedFromBlocked: number;
    time: string;
  };
}

export interface IntrusionWatchOptions {
  /** Milliseconds between readings of the blocked set. Default 1000. */
  intervalMs?: number;
  tools?: NetTools;
}

/** True when a spec's firewall turns on the intrusion detectors. */
export function hasIntrusionDetectors(spec: ContainerSpec): boolean {
  return readNetworkConfig(spec).firewall?.intrusion !== undefined;
}

/**
 * Starts reading the blocked set of a container's firewall every `intervalMs`, and records an
 * audit event (action network.intrusion.block, decision deny) for each newly blocked source.
 * The watcher emits 'block' with the same facts, and 'error' when a reading fails. It keeps Node
 * running until `close`, or until the container's network namespace is gone.
 */
export function watchIntrusions(container: Container, options: IntrusionWatchOptions = {}): IntrusionWatcher {
  if (!hasIntrusionDetectors(container.spec)) throw new Error(`watch intrusions of container ${container.id}: its firewall has no intrusion detectors (${INTRUSION_FIELD})`);
  if (container.pid === undefined) throw new Error(`watch intrusions of container ${container.id}: it has no process`);
  return new IntrusionWatcher(container, container.pid, options);
}

/**
 * Returns the blocked sources that `seen` does not have, or whose block expires later than the
 * one seen (it expired and began again between readings), and makes `seen` this reading.
 * `seen` maps each address to its block's expiry in milliseconds since the epoch.
 */
export function newBlocks(seen: Map<string, number>, blocked: IntrusionSignals['blocked'], now: number): IntrusionSignals['blocked'] {
  const expiry = (entry: { expiresIn: number }) => now + entry.expiresIn * 1000;
  const fresh = blocked.filter((entry) => {
    const before = seen.get(entry.address);
    return before === undefined || expiry(entry) > before + EXPIRY_SLACK_MS;
  });
  seen.clear();
  for (const entry of blocked) seen.set(entry.address, expiry(entry));
  return fresh;
}

/** Polls one container's blocked set; made by `watchIntrusions`. */
export class IntrusionWatcher extends EventEmitter<{ block: [IntrusionEvent]; error: [Error] }> {
  /** Settles when the watcher has stopped: after `close`, or once the container is gone. */
  readonly stopped: Promise<void>;
  private readonly seen = new Map<string, number>();
  private readonly namespace: string | undefined;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private closed = false;
  private resolveStopped!: () => void;

  constructor(
    private readonly container: Container,
    private readonly pid: number,
    private readonly options: IntrusionWatchOptions,
  ) {
    super();
    this.intervalMs = options.intervalMs ?? 1000;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    // The namespace's identity, not the pid, tells whether the container is still there, because
    // a pid can be reused while a namespace's inode stays unique as long as the namespace exists.
    this.namespace = namespaceOf(pid);
    this.schedule(0);
  }

  /** Stops reading, after a reading in progress has finished. Safe to call again. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.reading;
    this.resolveStopped();
  }

  private schedule(delay: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.reading = this.read().finally(() => (this.reading = undefined));
    }, delay);
  }

  /** Reads the blocked set once and records what is new. A reading that fails because the container is gone stops the watcher. */
  private async read(): Promise<void> {
    try {
      if (!this.alive()) return void this.close();
      const signals = await intrusionSignals(this.pid, this.options.tools === undefined ? {} : { tools: this.options.tools });
      const now = Date.now();
      for (const entry of newBlocks(this.seen, signals.blocked, now)) this.record(entry, signals, now);
    } catch (error) {
      if (!this.alive()) return void this.close();
      this.fail(error as Error);
    }
    this.schedule(this.intervalMs);
  }

  private record(entry: { address: string; expiresIn: number }, signals: IntrusionSignals, now: number): void {
    const detail = { address: entry.address, expiresIn: entry.expiresIn, synFlood: signals.synFlood, portScan: signals.portScan, droppedFromBlocked: signals.droppedFromBlocked };
    if (!alreadyAudited(this.container, entry.address, now + entry.expiresIn * 1000)) {
      this.container.audit({ plugin: PLUGIN_NAME, decision: 'deny', action: INTRUSION_ACTION, field: INTRUSION_FIELD, detail });
    }
    this.emit('block', { type: 'intrusion', id: this.container.id, data: { ...detail, time: new Date(now).toISOString() } });
  }

  private fail(error: Error): void {
    const wrapped = new Error(`read the intrusion signals of container ${this.container.id}: ${error.message}`, { cause: error });
    if (this.listenerCount('error') > 0) this.emit('error', wrapped);
    else this.container.log.warn({ err: wrapped }, wrapped.message);
  }

  private alive(): boolean {
    return this.namespace !== undefined && namespaceOf(this.pid) === this.namespace;
  }
}

/** Returns the device and inode of the network namespace of process `pid`, or undefined once the process is gone. */
function namespaceOf(pid: number): string | undefined {
  try {
    const stat = statSync(`/proc/${pid}/ns/net`);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * True when the container's audit file already has this block, recorded by another watcher (a
 * foreground run and `bulkhead events` at once). Two watchers that read one new block within the
 * same few milliseconds can still both record it.
 */
function alreadyAudited(container: Container, address: string, expiresAt: number): boolean {
  let text: string;
  try {
    text = readFileSync(join(container.stateDir, AUDIT_FILE), 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => {
    if (!line.includes(INTRUSION_ACTION)) return false;
    const event = JSON.parse(line) as AuditEvent;
    const detail = event.detail as { address?: string; expiresIn?: number } | undefined;
    return event.action === INTRUSION_ACTION && detail?.address === address && Math.abs(Date.parse(event.time) + (detail.expiresIn ?? 0) * 1000 - expiresAt) <= EXPIRY_SLACK_MS;
  });
}
