import type { ValidationContext } from '@bulkhead/core';
import type { LinuxResources } from './resources.js';

/** Returns why a value is invalid, or undefined when it is valid. */
type Check = (value: unknown) => string | undefined;

const MAX = Number.MAX_SAFE_INTEGER;

function range(min: number, max = MAX): Check {
  return (value) => (Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max ? undefined : max === MAX ? `must be an integer of at least ${min}` : `must be an integer from ${min} to ${max}`);
}

/** Bytes, or -1 for no limit. 0 is rejected because it leaves no memory at all. */
const byteLimit: Check = (value) => (value === -1 || (Number.isSafeInteger(value) && (value as number) > 0) ? undefined : 'must be -1 (no limit) or a positive number of bytes');
const boolean: Check = (value) => (typeof value === 'boolean' ? undefined : 'must be a boolean');
/** A cpuset list such as "0-3,7"; empty means the parent's. */
const cpuList: Check = (value) => (typeof value === 'string' && /^(\d+(-\d+)?(,\d+(-\d+)?)*)?$/.test(value) ? undefined : 'must be a list of numbers and ranges, such as "0-3,7"');

const MEMORY: Record<string, Check> = {
  limit: byteLimit,
  reservation: byteLimit,
  swap: byteLimit,
  kernelTCP: byteLimit,
  swappiness: range(0, 100),
  disableOOMKiller: boolean,
  useHierarchy: boolean,
  checkBeforeUpdate: boolean,
};

// The kernel accepts CFS periods from 1 ms to 1 s and quotas of at least 1 ms (kernel/sched/core.c).
const CPU: Record<string, Check> = {
  shares: range(0),
  quota: (value) => (value === -1 ? undefined : range(1000)(value) === undefined ? undefined : 'must be -1 (no limit) or at least 1000 microseconds'),
  period: range(1000, 1000000),
  burst: range(0),
  realtimeRuntime: range(-1),
  realtimePeriod: range(1),
  cpus: cpuList,
  mems: cpuList,
  idle: range(0, 1),
};

const BLKIO_WEIGHT = range(10, 1000);
const DEVICE_NUMBER = range(0, 0xfffff);
const WEIGHT_DEVICE: Record<string, Check> = { major: DEVICE_NUMBER, minor: DEVICE_NUMBER, weight: BLKIO_WEIGHT, leafWeight: BLKIO_WEIGHT };
const THROTTLE_DEVICE: Record<string, Check> = { major: DEVICE_NUMBER, minor: DEVICE_NUMBER, rate: range(0) };
const DEVICE_RULE: Record<string, Check> = {
  allow: boolean,
  type: (value) => (value === 'a' || value === 'b' || value === 'c' ? undefined : 'must be "a", "b" or "c"'),
  major: range(-1),
  minor: range(-1),
  access: (value) => (typeof value === 'string' && /^(?!.*(.).*\1)[rwm]{0,3}$/.test(value) ? undefined : 'must be a combination of r, w and m'),
};

/** Validates linux.resources and linux.cgroupsPath, reporting each invalid field by its JSON path. */
export function validateCgroupFields(validation: ValidationContext): void {
  const linux = validation.spec.linux;
  if (linux?.cgroupsPath !== undefined) validateCgroupsPath(validation, linux.cgroupsPath);
  const resources = linux?.resources as LinuxResources | undefined;
  if (resources === undefined) return;
  const at = 'linux.resources';

  if (resources.memory !== undefined && checkObject(validation, `${at}.memory`, resources.memory, MEMORY)) validateMemory(validation, resources.memory);
  if (resources.cpu !== undefined) checkObject(validation, `${at}.cpu`, resources.cpu, CPU);
  if (resources.pids !== undefined && checkObject(validation, `${at}.pids`, resources.pids, { limit: range(-1) })) {
    if (resources.pids.limit === undefined) validation.problem(`${at}.pids.limit`, 'is required');
  }
  if (resources.blockIO !== undefined) validateBlockIO(validation, resources.blockIO);
  checkList(validation, `${at}.devices`, resources.devices, DEVICE_RULE, ['allow']);
  validateHugepages(validation, resources.hugepageLimits);
  validateNetwork(validation, resources.network);
  validateUnified(validation, resources.unified);
  if (resources.rdma !== undefined && Object.keys(resources.rdma).length > 0) validation.problem(`${at}.rdma`, 'is not supported by this runtime: the plugin has no rdma controller support');
}

function validateCgroupsPath(validation: ValidationContext, path: string): void {
  if (path === '' || path === '/') validation.problem('linux.cgroupsPath', 'must name a cgroup below the root');
  else if (path.split('/').some((part) => part === '..' || part === '.')) validation.problem('linux.cgroupsPath', `must not contain "." or ".." components: ${JSON.stringify(path)}`);
}

function validateMemory(validation: ValidationContext, memory: NonNullable<LinuxResources['memory']>): void {
  const at = 'linux.resources.memory';
  if (memory.kernel !== undefined) validation.problem(`${at}.kernel`, 'is not supported: the runtime-spec deprecates kernel memory limits and recent kernels ignore them');
  if (memory.swap === undefined || memory.swap === -1) return;
  if (memory.limit === undefined || memory.limit === -1) validation.problem(`${at}.swap`, 'needs memory.limit, because swap is the limit of memory and swap together');
  else if (memory.swap < memory.limit) validation.problem(`${at}.swap`, `must be -1 or at least memory.limit (${memory.limit}), because it is the limit of memory and swap together`);
}

function validateBlockIO(validation: ValidationContext, blockIO: NonNullable<LinuxResources['blockIO']>): void {
  const at = 'linux.resources.blockIO';
  if (!checkObject(validation, at, blockIO, { weight: BLKIO_WEIGHT, leafWeight: BLKIO_WEIGHT })) return;
  checkList(validation, `${at}.weightDevice`, blockIO.weightDevice, WEIGHT_DEVICE, ['major', 'minor']);
  for (const field of ['throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice'] as const) {
    checkList(validation, `${at}.${field}`, blockIO[field], THROTTLE_DEVICE, ['major', 'minor', 'rate']);
  }
}

function validateHugepages(validation: ValidationContext, limits: LinuxResources['hugepageLimits']): void {
  const at = 'linux.resources.hugepageLimits';
  if (!checkList(validation, at, limits, { pageSize: (v) => (typeof v === 'string' && /^\d+[KMG]B$/.test(v) ? undefined : 'must be a size such as "2MB" or "1GB"'), limit: range(0) }, ['pageSize', 'limit'])) return;
  const seen = new Set<string>();
  limits!.forEach((limit, i) => {
    if (seen.has(limit.pageSize)) validation.problem(`${at}[${i}].pageSize`, `duplicate page size ${limit.pageSize}`);
    seen.add(limit.pageSize);
  });
}

function validateNetwork(validation: ValidationContext, network: LinuxResources['network']): void {
  const at = 'linux.resources.network';
  if (network === undefined || !checkObject(validation, at, network, { classID: range(0, 0xffffffff) })) return;
  const name = (value: unknown) => (typeof value === 'string' && /^[^\s/]{1,15}$/.test(value) ? undefined : 'must be a network interface name');
  checkList(validation, `${at}.priorities`, network.priorities, { name, priority: range(0, 0xffffffff) }, ['name', 'priority']);
}

function validateUnified(validation: ValidationContext, unified: LinuxResources['unified']): void {
  const at = 'linux.resources.unified';
  if (unified === undefined) return;
  if (!isObject(unified)) {
    validation.problem(at, 'must be an object');
    return;
  }
  for (const [key, value] of Object.entries(unified)) {
    // A key names a file in the container's own cgroup directory, never one elsewhere.
    if (!/^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/.test(key) || key.includes('..')) validation.problem(`${at}.${key}`, 'must be a cgroup file name such as "memory.high"');
    else if (typeof value !== 'string' || value.includes('\0')) validation.problem(`${at}.${key}`, 'must be a string without NUL bytes');
  }
}

/** Checks the fields of an object against a table; returns false when it is not an object at all. */
function checkObject(validation: ValidationContext, at: string, value: unknown, checks: Record<string, Check>): boolean {
  if (!isObject(value)) {
    validation.problem(at, 'must be an object');
    return false;
  }
  for (const [field, check] of Object.entries(checks)) {
    if (value[field] === undefined) continue;
    const message = check(value[field]);
    if (message !== undefined) validation.problem(`${at}.${field}`, message);
  }
  return true;
}

/** Checks a list of objects; returns false when it is absent or not an array. */
function checkList(validation: ValidationContext, at: string, list: unknown, checks: Record<string, Check>, required: readonly string[]): boolean {
  if (list === undefined) return false;
  if (!Array.isArray(list)) {
    validation.problem(at, 'must be an array');
    return false;
  }
  list.forEach((item, i) => {
    if (!checkObject(validation, `${at}[${i}]`, item, checks)) return;
    for (const field of required) if ((item as Record<string, unknown>)[field] === undefined) validation.problem(`${at}[${i}].${field}`, 'is required');
  });
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
