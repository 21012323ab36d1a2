import { posix } from 'node:path';
import { libc, type SpecProblem, type Syscalls } from '@bulkhead/core';
import { blkioWeightToIoWeight, cpuMax, sharesToWeight, swapMax, v2Limit } from './convert.js';
import { attachDeviceFilter } from './device-program.js';
import { deviceRules } from './devices.js';
import { readOptional, writeFile, type CgroupFs } from './fs.js';
import { device, enterAll, hugepageDirectory, killProcess, makeDirectories, parseKeyed, parseLimit, removeDirectories, waitUntil, type CgroupDriver, type CgroupRecord, type CgroupStats } from './driver.js';
import { THROTTLES, type BlockIO, type Cpu, type LinuxResources, type Memory } from './resources.js';

const R = 'linux.resources';

/** Controllers that each parent enables for its children, when the kernel offers them. */
const CONTROLLERS = ['cpu', 'cpuset', 'io', 'memory', 'pids', 'hugetlb'];

/** The fields that exist only on cgroup v1, with the reason each is not on v2. */
const V1_ONLY: [(r: LinuxResources) => unknown, string, string][] = [
  [(r) => r.memory?.swappiness, 'memory.swappiness', 'cgroup v2 has no per-cgroup swappiness'],
  [(r) => (r.memory?.disableOOMKiller === true ? true : undefined), 'memory.disableOOMKiller', 'cgroup v2 cannot disable the OOM killer'],
  [(r) => r.memory?.kernelTCP, 'memory.kernelTCP', 'cgroup v2 has no separate TCP memory limit'],
  [(r) => (r.memory?.useHierarchy === false ? false : undefined), 'memory.useHierarchy', 'cgroup v2 accounting is always hierarchical'],
  [(r) => r.cpu?.realtimeRuntime, 'cpu.realtimeRuntime', 'cgroup v2 has no realtime bandwidth files'],
  [(r) => r.cpu?.realtimePeriod, 'cpu.realtimePeriod', 'cgroup v2 has no realtime bandwidth files'],
  [(r) => r.blockIO?.leafWeight, 'blockIO.leafWeight', 'cgroup v2 has no leaf weights'],
  [(r) => r.network, 'network', 'net_cls and net_prio exist only on cgroup v1'],
];

/** cgroup v2: one directory in the unified hierarchy, with controllers enabled by each parent. */
export class V2Driver implements CgroupDriver {
  constructor(
    private readonly fs: CgroupFs,
    readonly record: CgroupRecord,
    private readonly kill: (pid: number) => void = killProcess,
    private readonly syscalls: Syscalls = libc,
  ) {}

  private get directory(): string {
    return this.record.directories['unified']!;
  }

  create(): void {
    makeDirectories(this.fs, this.record.mountpoints['unified']!, this.directory, {
      beforeChild: (parent) => this.enableControllers(parent),
      created: (dir) => this.record.created.push(dir),
    });
  }

  /**
   * Enables every offered controller one by one. A controller the kernel will not enable here
   * (cpu while a realtime process runs in the parent, for example) is left off, and `check`
   * then names it for each limit that needs it.
   */
  private enableControllers(parent: string): void {
    const offered = (readOptional(this.fs, posix.join(parent, 'cgroup.controllers')) ?? '').split(/\s+/);
    const enabled = (readOptional(this.fs, posix.join(parent, 'cgroup.subtree_control')) ?? '').split(/\s+/);
    for (const controller of CONTROLLERS.filter((c) => offered.includes(c) && !enabled.includes(c))) {
      try {
        this.fs.write(posix.join(parent, 'cgroup.subtree_control'), `+${controller}`);
      } catch {
        // Reported by check for the limits that need it.
      }
    }
  }

  check(resources: LinuxResources): SpecProblem[] {
    const problems: SpecProblem[] = [];
    const enabled = (readOptional(this.fs, posix.join(this.directory, 'cgroup.controllers')) ?? '').split(/\s+/);
    const need = (path: string, ok: boolean, reason: string) => {
      if (!ok) problems.push({ path: `${R}.${path}`, message: `cannot be enforced on this host: ${reason}` });
    };
    const controller = (path: string, name: string) => need(path, enabled.includes(name), `the ${name} controller is not enabled for the container's cgroup (see cgroup.subtree_control of its parent)`);

    for (const [value, path, reason] of V1_ONLY) if (value(resources) !== undefined) problems.push({ path: `${R}.${path}`, message: `not supported on cgroup v2: ${reason}` });
    if (resources.memory !== undefined) controller('memory', 'memory');
    if (resources.memory?.swap !== undefined && enabled.includes('memory')) need('memory.swap', this.hasFile('memory.swap.max'), 'memory.swap.max is missing, so the kernel does not account swap');
    if (resources.cpu !== undefined) this.checkCpu(resources.cpu, controller);
    if (resources.pids !== undefined) controller('pids', 'pids');
    if (resources.blockIO !== undefined) this.checkIo(resources.blockIO, controller, need, enabled);
    (resources.hugepageLimits ?? []).forEach((limit, i) => {
      controller(`hugepageLimits[${i}]`, 'hugetlb');
      need(`hugepageLimits[${i}].pageSize`, this.fs.exists(hugepageDirectory(limit.pageSize)), `the kernel has no ${limit.pageSize} huge pages (${hugepageDirectory(limit.pageSize)} is missing)`);
    });
    for (const key of Object.keys(resources.unified ?? {})) need(`unified.${key}`, this.hasFile(key), `${key} is missing from the container's cgroup: its controller is not enabled, or the kernel lacks it`);
    return problems;
  }

  private checkCpu(cpu: Cpu, controller: (path: string, name: string) => void): void {
    for (const field of ['shares', 'quota', 'period', 'burst', 'idle'] as const) if (cpu[field] !== undefined) controller(`cpu.${field}`, 'cpu');
    for (const field of ['cpus', 'mems'] as const) if (cpu[field] !== undefined && cpu[field] !== '') controller(`cpu.${field}`, 'cpuset');
  }

  private checkIo(blockIO: BlockIO, controller: (path: string, name: string) => void, need: (path: string, ok: boolean, reason: string) => void, enabled: string[]): void {
    controller('blockIO', 'io');
    const weighted = blockIO.weight !== undefined || (blockIO.weightDevice ?? []).some((d) => d.weight !== undefined);
    if (weighted && enabled.includes('io')) need('blockIO.weight', this.weightFile() !== undefined, 'neither io.bfq.weight nor io.weight exists, because no disk uses the BFQ I/O scheduler and io.cost is off');
  }

  apply(resources: LinuxResources): void {
    // cgroup v2 has no devices controller: a BPF_PROG_TYPE_CGROUP_DEVICE program enforces the rules.
    const rules = deviceRules(resources.devices);
    if (rules.length > 0) attachDeviceFilter(this.syscalls, this.directory, rules);
    if (resources.cpu !== undefined) this.applyCpu(resources.cpu);
    if (resources.memory !== undefined) this.applyMemory(resources.memory);
    if (resources.pids !== undefined) this.write('pids.max', v2Limit(resources.pids.limit));
    if (resources.blockIO !== undefined) this.applyIo(resources.blockIO);
    for (const limit of resources.hugepageLimits ?? []) this.write(`hugetlb.${limit.pageSize}.max`, String(limit.limit));
    // Last, so that an explicit file in the map wins over the value converted from a field.
    for (const [key, value] of Object.entries(resources.unified ?? {})) this.write(key, value);
  }

  private applyCpu(cpu: Cpu): void {
    if (cpu.shares !== undefined && cpu.shares !== 0) this.write('cpu.weight', String(sharesToWeight(cpu.shares)));
    if (cpu.quota !== undefined || cpu.period !== undefined) this.write('cpu.max', cpuMax(cpu));
    if (cpu.burst !== undefined) this.write('cpu.max.burst', String(cpu.burst));
    if (cpu.idle !== undefined) this.write('cpu.idle', String(cpu.idle));
    if (cpu.cpus !== undefined && cpu.cpus !== '') this.write('cpuset.cpus', cpu.cpus);
    if (cpu.mems !== undefined && cpu.mems !== '') this.write('cpuset.mems', cpu.mems);
  }

  private applyMemory(memory: Memory): void {
    if (memory.limit !== undefined) this.write('memory.max', v2Limit(memory.limit));
    if (memory.reservation !== undefined) this.write('memory.low', memory.reservation === -1 ? '0' : String(memory.reservation));
    const swap = swapMax(memory);
    if (swap !== undefined) this.write('memory.swap.max', swap);
  }

  private applyIo(blockIO: BlockIO): void {
    const weightFile = this.weightFile();
    // io.bfq.weight takes the blkio scale (1 to 1000); io.weight has its own (1 to 10000).
    const weight = (value: number) => (weightFile === 'io.bfq.weight' ? value : blkioWeightToIoWeight(value));
    if (blockIO.weight !== undefined) this.write(weightFile!, String(weight(blockIO.weight)));
    for (const entry of blockIO.weightDevice ?? []) {
      if (entry.weight !== undefined) this.write(weightFile!, `${device(entry)} ${weight(entry.weight)}`);
    }
    for (const throttle of THROTTLES) {
      for (const entry of blockIO[throttle.field] ?? []) this.write('io.max', `${device(entry)} ${throttle.v2}=${entry.rate}`);
    }
  }

  enter(pid: number): void {
    enterAll(this.fs, this.record, pid);
  }

  async freeze(frozen: boolean): Promise<void> {
    this.write('cgroup.freeze', frozen ? '1' : '0');
    // cgroup.events reports "frozen 1" only once every process stopped.
    await waitUntil(`write cgroup.freeze of ${this.record.directories['unified']}`, () => parseKeyed(this.read('cgroup.events'))['frozen'] === (frozen ? 1 : 0));
  }

  stats(): CgroupStats {
    const stats: CgroupStats = {};
    const cpu = parseKeyed(this.read('cpu.stat'));
    // usage_usec, user_usec and system_usec are in cpu.stat even without the cpu controller.
    stats.cpu = {
      usageNanoseconds: (cpu['usage_usec'] ?? 0) * 1000,
      userNanoseconds: (cpu['user_usec'] ?? 0) * 1000,
      systemNanoseconds: (cpu['system_usec'] ?? 0) * 1000,
      periods: cpu['nr_periods'] ?? 0,
      throttledPeriods: cpu['nr_throttled'] ?? 0,
      throttledNanoseconds: (cpu['throttled_usec'] ?? 0) * 1000,
    };
    if (this.hasFile('memory.current')) stats.memory = this.memoryStats();
    if (this.hasFile('pids.current')) stats.pids = { current: Number(this.read('pids.current')), limit: parseLimit(this.read('pids.max')!), limitHits: parseKeyed(this.read('pids.events'))['max'] ?? 0 };
    if (this.hasFile('io.stat')) stats.io = this.ioStats();
    return stats;
  }

  private memoryStats(): NonNullable<CgroupStats['memory']> {
    const events = parseKeyed(this.read('memory.events'));
    const memory: NonNullable<CgroupStats['memory']> = { usage: Number(this.read('memory.current')), limitHits: events['max'] ?? 0, oomKills: events['oom_kill'] ?? 0, events };
    const peak = this.read('memory.peak');
    if (peak !== undefined) memory.maxUsage = Number(peak);
    const limit = parseLimit(this.read('memory.max') ?? 'max');
    if (limit !== 'max') memory.limit = limit;
    const swap = this.read('memory.swap.current');
    if (swap !== undefined) memory.swapUsage = Number(swap);
    return memory;
  }

  /** Sums io.stat lines: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N". */
  private ioStats(): NonNullable<CgroupStats['io']> {
    const totals: Record<string, number> = {};
    for (const pair of (this.read('io.stat') ?? '').split(/\s+/)) {
      const [key, value] = pair.split('=');
      if (value !== undefined) totals[key!] = (totals[key!] ?? 0) + Number(value);
    }
    return { readBytes: totals['rbytes'] ?? 0, writeBytes: totals['wbytes'] ?? 0, readOps: totals['rios'] ?? 0, writeOps: totals['wios'] ?? 0 };
  }

  cpuQuota(): { quota: number | undefined; period: number } {
    const [quota, period] = (this.read('cpu.max') ?? 'max 100000').split(/\s+/);
    return { quota: quota === 'max' ? undefined : Number(quota), period: Number(period) };
  }

  adjustableMemory(): { file: 'memory.high'; limit: number | undefined; usage: number } {
    const limit = parseLimit(this.read('memory.high') ?? 'max');
    return { file: 'memory.high', limit: limit === 'max' ? undefined : limit, usage: Number(this.read('memory.current')) };
  }

  exists(): boolean {
    return this.fs.exists(this.directory);
  }

  /** cgroup.events reports "populated 0" once no process is left in the cgroup or below it. */
  populated(): boolean {
    const events = this.read('cgroup.events');
    return events !== undefined && parseKeyed(events)['populated'] === 1;
  }

  destroy(): Promise<void> {
    return removeDirectories(this.fs, this.record, this.kill);
  }

  private weightFile(): string | undefined {
    return ['io.bfq.weight', 'io.weight'].find((file) => this.hasFile(file));
  }

  private hasFile(file: string): boolean {
    return this.fs.exists(posix.join(this.directory, file));
  }

  private read(file: string): string | undefined {
    return readOptional(this.fs, posix.join(this.directory, file))?.trim();
  }

  private write(file: string, value: string): void {
    writeFile(this.fs, posix.join(this.directory, file), value);
  }
}
