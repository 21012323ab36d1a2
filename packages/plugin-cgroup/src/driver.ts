import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SpecProblem } from '@bulkhead/core';
import { errorCode, readFile, writeFile, type CgroupFs } from './fs.js';
import type { LinuxResources } from './resources.js';

/** What a driver made, persisted in the container's record so a later delete can remove it. */
export interface CgroupRecord {
  version: 'v1' | 'v2';
  /** The container's cgroup directory per hierarchy, keyed by its controllers ("cpu", "cpu,cpuacct") or "unified". */
  directories: Record<string, string>;
  /** The mountpoint of each hierarchy, by the same keys. */
  mountpoints: Record<string, string>;
  /** Directories this container created, in creation order; only these are removed. */
  created: string[];
}

/** Resource figures and the kernel's enforcement counters of one container's cgroup. */
export interface CgroupStats {
  cpu?: {
    usageNanoseconds: number;
    userNanoseconds: number;
    systemNanoseconds: number;
    /** CFS periods in which the cgroup ran, and in which its quota throttled it (cpu.stat nr_periods, nr_throttled). */
    periods: number;
    throttledPeriods: number;
    throttledNanoseconds: number;
  };
  memory?: {
    usage: number;
    maxUsage?: number;
    /** Undefined when there is no limit. */
    limit?: number;
    swapUsage?: number;
    /** Times usage hit the limit: memory.failcnt on v1, the "max" event on v2. */
    limitHits: number;
    /** Processes the OOM killer killed in this cgroup (oom_kill). */
    oomKills: number;
    /** The kernel's counters as it names them: memory.oom_control and memory.failcnt on v1, memory.events on v2. */
    events: Record<string, number>;
  };
  pids?: {
    current: number;
    limit: number | 'max';
    /** Forks that failed because of the limit (the "max" event of pids.events). */
    limitHits: number;
  };
  io?: { readBytes: number; writeBytes: number; readOps: number; writeOps: number };
}

/** One cgroup backend. The plugin calls create, apply and enter in that order, and destroy last. */
export interface CgroupDriver {
  readonly record: CgroupRecord;
  /** Creates the container's cgroup directories, recording each one it made. */
  create(): void;
  /** Returns the limits of `resources` that this host cannot enforce, each with its field and the missing kernel feature. */
  check(resources: LinuxResources): SpecProblem[];
  /** Writes the limits. `check` must have returned no problem. */
  apply(resources: LinuxResources): void;
  /** Moves a process into the container's cgroup in every hierarchy. */
  enter(pid: number): void;
  stats(): CgroupStats;
  /** The CFS quota (undefined when unlimited) and period, in microseconds. */
  cpuQuota(): { quota: number | undefined; period: number };
  /** The memory limit that pressure-driven adjustment moves (memory.high on v2, the hard limit on v1), undefined when unlimited, and the usage, in bytes. */
  adjustableMemory(): { file: 'memory.high' | 'memory.limit_in_bytes'; limit: number | undefined; usage: number };
  /** True while the container's cgroup directory exists. */
  exists(): boolean;
  /** True while a process is in the container's cgroup. */
  populated(): boolean;
  /** Freezes or thaws every process in the cgroup, and waits until the kernel reports it done. */
  freeze(frozen: boolean): Promise<void>;
  /** Kills what still runs in the cgroup and removes the directories it created. Safe to call again. */
  destroy(): Promise<void>;
}

/**
 * Like mkdir -p from the mountpoint down; calls `beforeChild` on each parent first and `created`
 * on each new directory. The last directory is the container's own: finding it there already
 * means another container made it since the plugin checked, and sharing it would let either
 * container's delete kill the other's processes, so that is an EEXIST error.
 */
export function makeDirectories(fs: CgroupFs, mountpoint: string, directory: string, hooks: { beforeChild?(parent: string): void; created?(dir: string): void } = {}): void {
  let current = mountpoint;
  for (const part of posix.relative(mountpoint, directory).split('/').filter((p) => p !== '')) {
    hooks.beforeChild?.(current);
    const child = posix.join(current, part);
    let created: boolean;
    try {
      created = fs.mkdir(child);
    } catch (error) {
      throw new Error(`mkdir ${child}: ${errorCode(error)}`, { cause: error });
    }
    if (created) hooks.created?.(child);
    else if (child === directory) throw new Error(`mkdir ${child}: EEXIST: another container created this cgroup at the same time`);
    current = child;
  }
}

export function enterAll(fs: CgroupFs, record: CgroupRecord, pid: number): void {
  for (const directory of new Set(Object.values(record.directories))) writeFile(fs, posix.join(directory, 'cgroup.procs'), String(pid));
}

/** How long destroy waits for killed processes to leave a cgroup before it reports EBUSY. */
const REMOVE_TIMEOUT_MS = 2000;
const REMOVE_INTERVAL_MS = 20;

/**
 * Removes the created directories, deepest first. A process left in a leaf (one that outlived
 * the container process without a pid namespace) is killed first, because rmdir of a cgroup
 * with members fails with EBUSY. A parent that another container still uses is left in place.
 */
export async function removeDirectories(fs: CgroupFs, record: CgroupRecord, kill: (pid: number) => void): Promise<void> {
  const leaves = new Set(Object.values(record.directories));
  for (const directory of removalOrder(record, leaves)) {
    if (!fs.exists(directory)) continue;
    if (leaves.has(directory)) await removeLeaf(fs, directory, kill);
    else removeParent(fs, directory);
  }
}

/**
 * Lists the container's own directories first, then the parents it created, deepest first. The own
 * directories count even when `created` does not list them: the record is saved before mkdir,
 * and a create killed between mkdir and the next save leaves them unlisted. They are the
 * container's all the same, because creating them is exclusive.
 */
function removalOrder(record: CgroupRecord, leaves: Set<string>): string[] {
  const unlisted = [...leaves].filter((leaf) => !record.created.includes(leaf));
  return [...unlisted, ...[...record.created].reverse()];
}

async function removeLeaf(fs: CgroupFs, directory: string, kill: (pid: number) => void): Promise<void> {
  const deadline = Date.now() + REMOVE_TIMEOUT_MS;
  for (;;) {
    try {
      fs.rmdir(directory);
      return;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) throw new Error(`rmdir ${directory}: ${code}`, { cause: error });
    }
    for (const pid of members(fs, directory)) kill(pid);
    await sleep(REMOVE_INTERVAL_MS);
  }
}

function removeParent(fs: CgroupFs, directory: string): void {
  try {
    fs.rmdir(directory);
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY') throw new Error(`rmdir ${directory}: ${code}`, { cause: error });
  }
}

/** Tells whether any of the directories contains a process. A missing directory contains none. */
export function anyMembers(fs: CgroupFs, directories: Iterable<string>): boolean {
  for (const directory of directories) {
    try {
      if (members(fs, directory).length > 0) return true;
    } catch (error) {
      if (fs.exists(directory)) throw error;
    }
  }
  return false;
}

function members(fs: CgroupFs, directory: string): number[] {
  const procs = posix.join(directory, 'cgroup.procs');
  return fs.exists(procs) ? readFile(fs, procs).split('\n').filter((line) => line !== '').map(Number) : [];
}

/** Sends SIGKILL, ignoring a process that is already gone. */
export function killProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (error) {
    if (errorCode(error) !== 'ESRCH') throw error;
  }
}

/** Parses "key value" lines, as in cpu.stat, memory.events, memory.stat and memory.oom_control. */
export function parseKeyed(text: string | undefined): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key !== undefined && key !== '' && value !== undefined) values[key] = Number(value);
  }
  return values;
}

/** Parses a single number, or "max" (pids.max, memory.max). */
export function parseLimit(text: string): number | 'max' {
  const value = text.trim();
  return value === 'max' ? 'max' : Number(value);
}

/** A device as cgroup files name it: "MAJOR:MINOR". */
export const device = (entry: { major: number; minor: number }) => `${entry.major}:${entry.minor}`;

/** "2MB" as the kernel's /sys/kernel/mm/hugepages directory names it: hugepages-2048kB. */
export function hugepageDirectory(pageSize: string): string {
  const match = /^(\d+)([KMG])B$/.exec(pageSize)!;
  const kilobytes = Number(match[1]) * { K: 1, M: 1024, G: 1024 * 1024 }[match[2] as 'K' | 'M' | 'G'];
  return `/sys/kernel/mm/hugepages/hugepages-${kilobytes}kB`;
}

/** How long freeze waits for the kernel to report the cgroup frozen or thawed. */
const FREEZE_TIMEOUT_MS = 5000;

/** Polls `done` until it holds, for freezer transitions that the kernel completes asynchronously. */
export async function waitUntil(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + FREEZE_TIMEOUT_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: timed out after ${FREEZE_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
