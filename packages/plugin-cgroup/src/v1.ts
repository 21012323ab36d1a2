import { posix } from 'node:path';
import type { SpecProblem } from '@bulkhead/core';
import { readFile, readOptional, writeFile, type CgroupFs } from './fs.js';
import { anyMembers, device, enterAll, hugepageDirectory, killProcess, makeDirectories, parseKeyed, parseLimit, removeDirectories, waitUntil, type CgroupDriver, type CgroupRecord, type CgroupStats } from './driver.js';
import { deviceRules } from './devices.js';
import { THROTTLES, type BlockIO, type Cpu, type LinuxResources, type Memory } from './resources.js';

const R = 'linux.resources';

/**
 * cgroup v1: one directory per mounted hierarchy. On a hybrid host the container also gets a
 * directory in the cgroup2 mount ("unified"), which serves hugetlb when no v1 hierarchy has it.
 */
export class V1Driver implements CgroupDriver {
  constructor(
    private readonly fs: CgroupFs,
    readonly record: CgroupRecord,
    private readonly kill: (pid: number) => void = killProcess,
  ) {}

  create(): void {
    for (const [key, directory] of Object.entries(this.record.directories)) {
      makeDirectories(this.fs, this.record.mountpoints[key]!, directory, {
        created: (dir) => {
          this.record.created.push(dir);
          // A new cpuset cgroup starts with no cpus and no mems unless cgroup.clone_children is set,
          // and the kernel refuses to move a process into it (ENOSPC): it inherits the parent's here.
          if (key.split(',').includes('cpuset')) this.inheritCpuset(dir);
        },
      });
    }
  }

  check(resources: LinuxResources): SpecProblem[] {
    const problems: SpecProblem[] = [];
    const need = (path: string, ok: boolean, reason: string) => {
      if (!ok) problems.push({ path, message: `cannot be enforced on this host: ${reason}` });
    };
    const controller = (path: string, name: string) => need(path, this.directory(name) !== undefined, `the ${name} cgroup controller is not mounted`);

    if (resources.memory !== undefined) this.checkMemory(resources.memory, controller, need);
    if (resources.cpu !== undefined) this.checkCpu(resources.cpu, controller, need);
    if (resources.pids !== undefined) controller(`${R}.pids`, 'pids');
    if (resources.blockIO !== undefined) this.checkBlockIO(resources.blockIO, controller, need);
    (resources.hugepageLimits ?? []).forEach((limit, i) => {
      need(`${R}.hugepageLimits[${i}]`, this.hugetlb() !== undefined, 'the hugetlb cgroup controller is neither mounted on v1 nor available in the cgroup2 mount');
      need(`${R}.hugepageLimits[${i}].pageSize`, this.fs.exists(hugepageDirectory(limit.pageSize)), `the kernel has no ${limit.pageSize} huge pages (${hugepageDirectory(limit.pageSize)} is missing)`);
    });
    if (resources.network?.classID !== undefined) controller(`${R}.network.classID`, 'net_cls');
    if ((resources.network?.priorities ?? []).length > 0) controller(`${R}.network.priorities`, 'net_prio');
    if ((resources.devices ?? []).length > 0) controller(`${R}.devices`, 'devices');
    if (resources.unified !== undefined && Object.keys(resources.unified).length > 0) problems.push({ path: `${R}.unified`, message: 'not supported on cgroup v1: the unified map sets cgroup v2 files' });
    return problems;
  }

  private checkMemory(memory: Memory, controller: (path: string, name: string) => void, need: (path: string, ok: boolean, reason: string) => void): void {
    controller(`${R}.memory`, 'memory');
    const memoryDir = this.directory('memory');
    if (memoryDir === undefined) return;
    if (memory.swap !== undefined) need(`${R}.memory.swap`, this.fs.exists(posix.join(memoryDir, 'memory.memsw.limit_in_bytes')), 'memory.memsw.limit_in_bytes is missing, so the kernel does not account swap (boot with swapaccount=1)');
    if (memory.kernelTCP !== undefined) need(`${R}.memory.kernelTCP`, this.fs.exists(posix.join(memoryDir, 'memory.kmem.tcp.limit_in_bytes')), 'memory.kmem.tcp.limit_in_bytes is missing');
  }

  private checkCpu(cpu: Cpu, controller: (path: string, name: string) => void, need: (path: string, ok: boolean, reason: string) => void): void {
    for (const field of ['shares', 'quota', 'period', 'burst', 'realtimeRuntime', 'realtimePeriod', 'idle'] as const) {
      if (cpu[field] !== undefined) controller(`${R}.cpu.${field}`, 'cpu');
    }
    for (const field of ['cpus', 'mems'] as const) if (cpu[field] !== undefined && cpu[field] !== '') controller(`${R}.cpu.${field}`, 'cpuset');
    const cpuDir = this.directory('cpu');
    if (cpuDir === undefined) return;
    const files = { burst: 'cpu.cfs_burst_us', realtimeRuntime: 'cpu.rt_runtime_us', realtimePeriod: 'cpu.rt_period_us', idle: 'cpu.idle' } as const;
    for (const [field, file] of Object.entries(files)) {
      if (cpu[field as keyof typeof files] !== undefined) need(`${R}.cpu.${field}`, this.fs.exists(posix.join(cpuDir, file)), `${file} is missing from the cpu controller`);
    }
  }

  private checkBlockIO(blockIO: BlockIO, controller: (path: string, name: string) => void, need: (path: string, ok: boolean, reason: string) => void): void {
    controller(`${R}.blockIO`, 'blkio');
    if (this.directory('blkio') === undefined) return;
    const weighted = blockIO.weight !== undefined || (blockIO.weightDevice ?? []).some((d) => d.weight !== undefined);
    if (weighted) need(`${R}.blockIO.weight`, this.weightFile() !== undefined, 'neither blkio.bfq.weight nor blkio.weight exists, because no disk uses the BFQ I/O scheduler (or CFQ, before Linux 5.0)');
    const leaf = blockIO.leafWeight !== undefined || (blockIO.weightDevice ?? []).some((d) => d.leafWeight !== undefined);
    if (leaf) need(`${R}.blockIO.leafWeight`, this.fs.exists(posix.join(this.directory('blkio')!, 'blkio.leaf_weight')), 'blkio.leaf_weight is missing: only the CFQ I/O scheduler, removed in Linux 5.0, had leaf weights');
  }

  apply(resources: LinuxResources): void {
    if (resources.cpu !== undefined) this.applyCpu(resources.cpu);
    if (resources.memory !== undefined) this.applyMemory(resources.memory);
    if (resources.pids !== undefined) this.write('pids', 'pids.max', resources.pids.limit === -1 ? 'max' : String(resources.pids.limit));
    if (resources.blockIO !== undefined) this.applyBlockIO(resources.blockIO);
    for (const limit of resources.hugepageLimits ?? []) this.applyHugepages(limit.pageSize, limit.limit);
    this.applyNetwork(resources.network);

    // The rules apply in order, as the runtime-spec requires; a deny-all rule usually comes first.
    for (const rule of deviceRules(resources.devices)) {
      const number = (value: number | undefined) => (value === undefined || value === -1 ? '*' : String(value));
      this.write('devices', rule.allow ? 'devices.allow' : 'devices.deny', `${rule.type ?? 'a'} ${number(rule.major)}:${number(rule.minor)} ${rule.access ?? 'rwm'}`);
    }
  }

  private applyCpu(cpu: Cpu): void {
    if (cpu.shares !== undefined && cpu.shares !== 0) this.write('cpu', 'cpu.shares', String(cpu.shares));
    // The period first: the kernel checks a new quota against the current period.
    if (cpu.period !== undefined) this.write('cpu', 'cpu.cfs_period_us', String(cpu.period));
    if (cpu.quota !== undefined) this.write('cpu', 'cpu.cfs_quota_us', String(cpu.quota));
    if (cpu.burst !== undefined) this.write('cpu', 'cpu.cfs_burst_us', String(cpu.burst));
    if (cpu.realtimePeriod !== undefined) this.write('cpu', 'cpu.rt_period_us', String(cpu.realtimePeriod));
    if (cpu.realtimeRuntime !== undefined) this.write('cpu', 'cpu.rt_runtime_us', String(cpu.realtimeRuntime));
    if (cpu.idle !== undefined) this.write('cpu', 'cpu.idle', String(cpu.idle));
    if (cpu.cpus !== undefined && cpu.cpus !== '') this.write('cpuset', 'cpuset.cpus', cpu.cpus);
    if (cpu.mems !== undefined && cpu.mems !== '') this.write('cpuset', 'cpuset.mems', cpu.mems);
  }

  private applyMemory(memory: Memory): void {
    // memory.memsw.limit_in_bytes may never be below memory.limit_in_bytes: an unlimited memsw
    // goes first, a finite one after the memory limit it must not undercut.
    // On update, a memory limit raised above the current memsw limit needs the new memsw limit first.
    const memswFirst = memory.swap === -1 || (memory.swap !== undefined && memory.limit !== undefined && memory.limit > this.currentMemswLimit());
    if (memswFirst) this.write('memory', 'memory.memsw.limit_in_bytes', String(memory.swap));
    if (memory.limit !== undefined) this.write('memory', 'memory.limit_in_bytes', String(memory.limit));
    if (memory.swap !== undefined && !memswFirst) this.write('memory', 'memory.memsw.limit_in_bytes', String(memory.swap));
    if (memory.reservation !== undefined) this.write('memory', 'memory.soft_limit_in_bytes', String(memory.reservation));
    if (memory.kernelTCP !== undefined) this.write('memory', 'memory.kmem.tcp.limit_in_bytes', String(memory.kernelTCP));
    if (memory.swappiness !== undefined) this.write('memory', 'memory.swappiness', String(memory.swappiness));
    if (memory.disableOOMKiller === true) this.write('memory', 'memory.oom_control', '1');
    if (memory.useHierarchy !== undefined) this.write('memory', 'memory.use_hierarchy', memory.useHierarchy ? '1' : '0');
  }

  /** memory.memsw.limit_in_bytes now; a new cgroup starts unlimited. */
  private currentMemswLimit(): number {
    return Number(this.readIn('memory', 'memory.memsw.limit_in_bytes') ?? Number.MAX_SAFE_INTEGER);
  }

  private applyBlockIO(blockIO: BlockIO): void {
    const weightFile = this.weightFile();
    if (blockIO.weight !== undefined) this.write('blkio', weightFile!, String(blockIO.weight));
    if (blockIO.leafWeight !== undefined) this.write('blkio', 'blkio.leaf_weight', String(blockIO.leafWeight));
    for (const entry of blockIO.weightDevice ?? []) {
      // BFQ takes per-device weights in blkio.bfq.weight itself; CFQ had blkio.weight_device.
      if (entry.weight !== undefined) this.write('blkio', weightFile === 'blkio.bfq.weight' ? weightFile : 'blkio.weight_device', `${device(entry)} ${entry.weight}`);
      if (entry.leafWeight !== undefined) this.write('blkio', 'blkio.leaf_weight_device', `${device(entry)} ${entry.leafWeight}`);
    }
    for (const throttle of THROTTLES) {
      for (const entry of blockIO[throttle.field] ?? []) this.write('blkio', throttle.v1, `${device(entry)} ${entry.rate}`);
    }
  }

  private applyHugepages(pageSize: string, limit: number): void {
    if (this.directory('hugetlb') !== undefined) {
      this.write('hugetlb', `hugetlb.${pageSize}.limit_in_bytes`, String(limit));
      return;
    }
    // Hybrid host: hugetlb lives in the cgroup2 mount, where each parent must enable it for its children.
    const unified = this.record.directories['unified']!;
    makeDirectories(this.fs, this.record.mountpoints['unified']!, unified, { beforeChild: (parent) => writeFile(this.fs, posix.join(parent, 'cgroup.subtree_control'), '+hugetlb') });
    writeFile(this.fs, posix.join(unified, `hugetlb.${pageSize}.max`), String(limit));
  }

  private applyNetwork(network: LinuxResources['network']): void {
    if (network?.classID !== undefined) this.write('net_cls', 'net_cls.classid', String(network.classID));
    for (const entry of network?.priorities ?? []) this.write('net_prio', 'net_prio.ifpriomap', `${entry.name} ${entry.priority}`);
  }

  enter(pid: number): void {
    enterAll(this.fs, this.record, pid);
  }

  async freeze(frozen: boolean): Promise<void> {
    const directory = this.directory('freezer');
    if (directory === undefined) throw new Error('freeze: not supported on this host: the freezer cgroup controller is not mounted');
    const state = frozen ? 'FROZEN' : 'THAWED';
    this.write('freezer', 'freezer.state', state);
    // FREEZING is reported until every task stopped.
    await waitUntil(`write ${state} to ${directory}/freezer.state`, () => this.readIn('freezer', 'freezer.state')?.trim() === state);
  }

  stats(): CgroupStats {
    const stats: CgroupStats = {};
    const cpuacct = this.directory('cpuacct');
    if (cpuacct !== undefined) {
      const throttling = parseKeyed(this.readIn('cpu', 'cpu.stat'));
      stats.cpu = {
        usageNanoseconds: Number(this.readIn('cpuacct', 'cpuacct.usage') ?? 0),
        userNanoseconds: Number(this.readIn('cpuacct', 'cpuacct.usage_user') ?? 0),
        systemNanoseconds: Number(this.readIn('cpuacct', 'cpuacct.usage_sys') ?? 0),
        periods: throttling['nr_periods'] ?? 0,
        throttledPeriods: throttling['nr_throttled'] ?? 0,
        throttledNanoseconds: throttling['throttled_time'] ?? 0,
      };
    }
    if (this.directory('memory') !== undefined) stats.memory = this.memoryStats();
    if (this.directory('pids') !== undefined) {
      stats.pids = { current: Number(this.readIn('pids', 'pids.current')), limit: parseLimit(this.readIn('pids', 'pids.max')!), limitHits: parseKeyed(this.readIn('pids', 'pids.events'))['max'] ?? 0 };
    }
    if (this.directory('blkio') !== undefined) stats.io = this.ioStats();
    return stats;
  }

  private memoryStats(): NonNullable<CgroupStats['memory']> {
    const number = (file: string) => {
      const text = this.readIn('memory', file);
      return text === undefined ? undefined : Number(text);
    };
    const usage = number('memory.usage_in_bytes')!;
    const limit = number('memory.limit_in_bytes')!;
    const memsw = number('memory.memsw.usage_in_bytes');
    const failcnt = number('memory.failcnt') ?? 0;
    const memswFailcnt = number('memory.memsw.failcnt') ?? 0;
    const events: Record<string, number> = { ...parseKeyed(this.readIn('memory', 'memory.oom_control')), failcnt, 'memsw.failcnt': memswFailcnt };
    // With memory.swap set, the memory+swap limit is usually the one hit, and only memsw.failcnt counts it.
    const memory: NonNullable<CgroupStats['memory']> = { usage, maxUsage: number('memory.max_usage_in_bytes')!, limitHits: Math.max(failcnt, memswFailcnt), oomKills: events['oom_kill'] ?? 0, events };
    // The kernel reports "no limit" as the largest page-aligned signed 64-bit value.
    if (limit < 2 ** 62) memory.limit = limit;
    if (memsw !== undefined) memory.swapUsage = memsw - usage;
    return memory;
  }

  private ioStats(): NonNullable<CgroupStats['io']> {
    const sum = (file: string, operation: string) =>
      (this.readIn('blkio', file) ?? '')
        .split('\n')
        .map((line) => line.split(' '))
        .filter((fields) => fields.length === 3 && fields[1] === operation)
        .reduce((total, fields) => total + Number(fields[2]), 0);
    return {
      readBytes: sum('blkio.throttle.io_service_bytes_recursive', 'Read'),
      writeBytes: sum('blkio.throttle.io_service_bytes_recursive', 'Write'),
      readOps: sum('blkio.throttle.io_serviced_recursive', 'Read'),
      writeOps: sum('blkio.throttle.io_serviced_recursive', 'Write'),
    };
  }

  cpuQuota(): { quota: number | undefined; period: number } {
    const quota = Number(this.readIn('cpu', 'cpu.cfs_quota_us'));
    return { quota: quota > 0 ? quota : undefined, period: Number(this.readIn('cpu', 'cpu.cfs_period_us')) };
  }

  adjustableMemory(): { file: 'memory.limit_in_bytes'; limit: number | undefined; usage: number } {
    const limit = Number(this.readIn('memory', 'memory.limit_in_bytes'));
    // The kernel reports "no limit" as the largest page-aligned signed 64-bit value.
    return { file: 'memory.limit_in_bytes', limit: limit < 2 ** 62 ? limit : undefined, usage: Number(this.readIn('memory', 'memory.usage_in_bytes')) };
  }

  exists(): boolean {
    return Object.values(this.record.directories).some((directory) => this.fs.exists(directory));
  }

  populated(): boolean {
    return anyMembers(this.fs, new Set(Object.values(this.record.directories)));
  }

  destroy(): Promise<void> {
    return removeDirectories(this.fs, this.record, this.kill);
  }

  /** The container's directory in the hierarchy that has this controller. */
  private directory(controller: string): string | undefined {
    const key = Object.keys(this.record.directories).find((k) => k !== 'unified' && k.split(',').includes(controller));
    return key === undefined ? undefined : this.record.directories[key];
  }

  private hugetlb(): string | undefined {
    if (this.directory('hugetlb') !== undefined) return 'v1';
    const root = this.record.mountpoints['unified'];
    if (root === undefined) return undefined;
    const controllers = readOptional(this.fs, posix.join(root, 'cgroup.controllers')) ?? '';
    return controllers.split(/\s+/).includes('hugetlb') ? 'unified' : undefined;
  }

  private weightFile(): string | undefined {
    const blkio = this.directory('blkio')!;
    return ['blkio.bfq.weight', 'blkio.weight'].find((file) => this.fs.exists(posix.join(blkio, file)));
  }

  private inheritCpuset(dir: string): void {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if (readFile(this.fs, posix.join(dir, file)).trim() !== '') continue;
      writeFile(this.fs, posix.join(dir, file), readFile(this.fs, posix.join(posix.dirname(dir), file)).trim());
    }
  }

  private write(controller: string, file: string, value: string): void {
    writeFile(this.fs, posix.join(this.directory(controller)!, file), value);
  }

  private readIn(controller: string, file: string): string | undefined {
    const directory = this.directory(controller);
    return directory === undefined ? undefined : readOptional(this.fs, posix.join(directory, file))?.trim();
  }
}
