import { closeSync, openSync, read, watch, writeSync, type FSWatcher } from 'node:fs';
import { posix } from 'node:path';
import type { Syscalls } from '@bulkhead/core';
import type { CgroupRecord } from './driver.js';
import { errorCode, writeFile, type CgroupFs } from './fs.js';

/** Kernel notifications that a container's counters changed; `close` ends them and releases their descriptors. */
export interface Notifier {
  /** Notification sources, such as "inotify memory.events" or "eventfd memory.oom_control". */
  readonly sources: string[];
  close(): Promise<void>;
}

/** cgroup v2 files whose changes the kernel reports to inotify (kernfs_notify): the counters and "populated". */
const V2_WATCHED = ['memory.events', 'pids.events', 'cgroup.events'];

/**
 * Opens the notifications this host's kernel offers for the container's cgroup and calls
 * `changed` on each. On v2 inotify reports changes of memory.events, pids.events and
 * cgroup.events. On v1 only the OOM notification exists, an eventfd registered in
 * cgroup.event_control. v1's pids.events and memory.failcnt change without any notification, so
 * the caller must also poll.
 */
export function openNotifier(fs: CgroupFs, syscalls: Syscalls, record: CgroupRecord, changed: () => void): Notifier {
  if (record.version === 'v2') return watchFiles(fs, record.directories['unified']!, changed);
  const memory = Object.entries(record.directories).find(([key]) => key !== 'unified' && key.split(',').includes('memory'))?.[1];
  if (memory === undefined || !fs.exists(posix.join(memory, 'cgroup.event_control'))) return { sources: [], close: async () => {} };
  return OomEventfd.open(fs, syscalls, memory, changed);
}

function watchFiles(fs: CgroupFs, directory: string, changed: () => void): Notifier {
  const watchers: FSWatcher[] = [];
  const sources: string[] = [];
  for (const file of V2_WATCHED) {
    const path = posix.join(directory, file);
    if (!fs.exists(path)) continue;
    // The cgroup may go away meanwhile; the poll of the caller then notices that.
    const watcher = watch(path, { persistent: false }, () => changed());
    watcher.on('error', () => changed());
    watchers.push(watcher);
    sources.push(`inotify ${file}`);
  }
  return { sources, close: async () => watchers.forEach((watcher) => watcher.close()) };
}

/**
 * The cgroup v1 OOM notification: an eventfd that the kernel signals on each OOM in the cgroup,
 * and also when the cgroup is removed. The read blocks one thread of libuv's pool until then;
 * `close` writes to the eventfd itself to end that read.
 */
class OomEventfd implements Notifier {
  readonly sources = ['eventfd memory.oom_control'];
  private closed = false;
  private readonly reading: Promise<void>;

  private constructor(
    private readonly syscalls: Syscalls,
    private readonly eventfd: number,
    private readonly oomControl: number,
    private readonly changed: () => void,
  ) {
    this.reading = this.readLoop();
  }

  static open(fs: CgroupFs, syscalls: Syscalls, memory: string, changed: () => void): OomEventfd {
    const eventfd = syscalls.eventfd();
    let oomControl: number | undefined;
    try {
      oomControl = openSync(posix.join(memory, 'memory.oom_control'), 'r');
      writeFile(fs, posix.join(memory, 'cgroup.event_control'), `${eventfd} ${oomControl}`);
      return new OomEventfd(syscalls, eventfd, oomControl, changed);
    } catch (error) {
      if (oomControl !== undefined) closeSync(oomControl);
      syscalls.close(eventfd);
      throw error;
    }
  }

  private async readLoop(): Promise<void> {
    const counter = Buffer.alloc(8);
    while (!this.closed) {
      try {
        await new Promise<void>((resolve, reject) => read(this.eventfd, counter, 0, 8, null, (error) => (error === null ? resolve() : reject(error))));
      } catch (error) {
        if (errorCode(error) !== 'EINTR') return;
        continue;
      }
      if (!this.closed) this.changed();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    writeSync(this.eventfd, one);
    await this.reading;
    closeSync(this.oomControl);
    this.syscalls.close(this.eventfd);
  }
}
