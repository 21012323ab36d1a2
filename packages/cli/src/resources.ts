import { statSync } from 'node:fs';
import type { ContainerSpec, Rlimit } from '@bulkhead/core';
import { usageError } from './usage.js';

/** Resource flags of `bulkhead run`, as given on the command line. */
export interface ResourceFlags {
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  ioReadBps: string[];
  ioWriteBps: string[];
  ioReadIops: string[];
  ioWriteIops: string[];
  ulimit: string[];
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
/** The CFS period that --cpus is expressed in, the kernel's default: 100 ms. */
const CPU_PERIOD = 100_000;

/** Parses "64M", "1G", a byte count, or -1 for no limit. */
export function parseBytes(flag: string, value: string): number {
  if (value === '-1') return -1;
  const match = /^(\d+)([KMG]?)B?$/i.exec(value);
  if (match === null) throw usageError(`${flag}: invalid size ${JSON.stringify(value)}: use bytes or a number with K, M or G`);
  return Number(match[1]) * UNITS[match[2]!.toUpperCase()]!;
}

export function parseInteger(flag: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw usageError(`${flag}: invalid integer ${JSON.stringify(value)}`);
  return Number(value);
}

/** Parses DEV:RATE, where DEV is a block device path or MAJOR:MINOR. */
export function parseThrottle(flag: string, value: string, bytes: boolean): { major: number; minor: number; rate: number } {
  const at = value.lastIndexOf(':');
  if (at <= 0) throw usageError(`${flag}: expected DEV:RATE, got ${JSON.stringify(value)}`);
  const device = parseDevice(flag, value.slice(0, at));
  const rate = bytes ? parseBytes(flag, value.slice(at + 1)) : parseInteger(flag, value.slice(at + 1));
  if (rate < 0) throw usageError(`${flag}: invalid rate ${JSON.stringify(value.slice(at + 1))}`);
  return { ...device, rate };
}

function parseDevice(flag: string, device: string): { major: number; minor: number } {
  const numbers = /^(\d+):(\d+)$/.exec(device);
  if (numbers !== null) return { major: Number(numbers[1]), minor: Number(numbers[2]) };
  let rdev: number;
  try {
    const stat = statSync(device);
    if (!stat.isBlockDevice()) throw usageError(`${flag}: ${device} is not a block device`);
    rdev = stat.rdev;
  } catch (error) {
    if ((error as { code?: string }).code === 'BULKHEAD_USAGE') throw error;
    throw usageError(`${flag}: ${device}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  // glibc's major() and minor() split of a dev_t.
  return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}

/** Parses --ulimit TYPE=SOFT[:HARD], such as nofile=1024:4096. */
function parseUlimit(value: string): Rlimit {
  const match = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value);
  if (match === null) throw usageError(`--ulimit: expected TYPE=SOFT[:HARD], got ${JSON.stringify(value)}`);
  return { type: `RLIMIT_${match[1]!.toUpperCase()}`, soft: Number(match[2]), hard: Number(match[3] ?? match[2]) };
}

/** Puts the resource flags into the spec: linux.resources and process.rlimits. Invalid values are left to validation where it names the field. */
export function applyResourceFlags(spec: ContainerSpec, flags: ResourceFlags): void {
  const resources: Record<string, Record<string, unknown>> = {};
  const section = (name: string) => (resources[name] ??= {});
  if (flags.memory !== undefined) section('memory')['limit'] = parseBytes('--memory', flags.memory);
  // The runtime-spec's swap is memory plus swap, as --memory-swap is in docker and podman.
  if (flags.memorySwap !== undefined) section('memory')['swap'] = parseBytes('--memory-swap', flags.memorySwap);
  if (flags.cpus !== undefined) {
    const cpus = Number(flags.cpus);
    if (!(cpus > 0)) throw usageError(`--cpus: must be a positive number, got ${JSON.stringify(flags.cpus)}`);
    Object.assign(section('cpu'), { quota: Math.round(cpus * CPU_PERIOD), period: CPU_PERIOD });
  }
  if (flags.cpuShares !== undefined) section('cpu')['shares'] = parseInteger('--cpu-shares', flags.cpuShares);
  if (flags.cpusetCpus !== undefined) section('cpu')['cpus'] = flags.cpusetCpus;
  if (flags.pidsLimit !== undefined) section('pids')['limit'] = parseInteger('--pids-limit', flags.pidsLimit);
  const throttles = [
    ['--io-read-bps', flags.ioReadBps, 'throttleReadBpsDevice', true],
    ['--io-write-bps', flags.ioWriteBps, 'throttleWriteBpsDevice', true],
    ['--io-read-iops', flags.ioReadIops, 'throttleReadIOPSDevice', false],
    ['--io-write-iops', flags.ioWriteIops, 'throttleWriteIOPSDevice', false],
  ] as const;
  for (const [flag, values, field, bytes] of throttles) {
    if (values.length > 0) section('blockIO')[field] = values.map((value) => parseThrottle(flag, value, bytes));
  }
  if (Object.keys(resources).length > 0) spec.linux = { ...spec.linux, resources };
  if (flags.ulimit.length > 0) spec.process!.rlimits = flags.ulimit.map(parseUlimit);
}
