/**
 * linux.resources of the OCI runtime-spec (config-linux.md, version 1.2), with its field names.
 * Integers that the runtime-spec types as int64 take -1 for "no limit" where it says so.
 */
export interface LinuxResources {
  devices?: DeviceRule[];
  memory?: Memory;
  cpu?: Cpu;
  pids?: { limit: number };
  blockIO?: BlockIO;
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  /** cgroup v2 files by name, written as they are. */
  unified?: Record<string, string>;
}

export interface DeviceRule {
  allow: boolean;
  /** 'a' (all), 'c' (character) or 'b' (block); absent means 'a'. */
  type?: string;
  /** Absent or -1 means every number. */
  major?: number;
  minor?: number;
  /** A combination of r, w and m; absent means 'rwm'. */
  access?: string;
}

export interface Memory {
  limit?: number;
  reservation?: number;
  /** The limit of memory and swap together, as on cgroup v1's memory.memsw.limit_in_bytes. */
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface Cpu {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface WeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface BlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: WeightDevice[];
  throttleReadBpsDevice?: ThrottleDevice[];
  throttleWriteBpsDevice?: ThrottleDevice[];
  throttleReadIOPSDevice?: ThrottleDevice[];
  throttleWriteIOPSDevice?: ThrottleDevice[];
}

/** The throttle lists of blockIO with the cgroup v1 file and the cgroup v2 io.max key of each. */
export const THROTTLES = [
  { field: 'throttleReadBpsDevice', v1: 'blkio.throttle.read_bps_device', v2: 'rbps' },
  { field: 'throttleWriteBpsDevice', v1: 'blkio.throttle.write_bps_device', v2: 'wbps' },
  { field: 'throttleReadIOPSDevice', v1: 'blkio.throttle.read_iops_device', v2: 'riops' },
  { field: 'throttleWriteIOPSDevice', v1: 'blkio.throttle.write_iops_device', v2: 'wiops' },
] as const;
