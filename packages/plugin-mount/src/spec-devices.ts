import { statSync } from 'node:fs';
import { posix } from 'node:path';
import type { LinuxDevice, Plan, ValidationContext } from '@bulkhead/core';

const TYPES = new Set(['c', 'u', 'b', 'p']);
/** Permission bits of a device whose spec gives no fileMode, as other runtimes default them. */
const DEFAULT_FILE_MODE = 0o666;
const MAX_DEVICE_NUMBER = 0xffffffff;
const MAX_ID = 0xfffffffe;

/** Reports every invalid entry of `linux.devices` with its JSON path. */
export function validateDevices(validation: ValidationContext, devices: readonly LinuxDevice[], userNamespace: boolean): void {
  devices.forEach((device, i) => {
    const path = `linux.devices[${i}]`;
    if (!device.path.startsWith('/') || device.path.split('/').includes('..')) validation.problem(`${path}.path`, 'must be an absolute path without ".."');
    if (!TYPES.has(device.type)) {
      validation.problem(`${path}.type`, `must be c, u, b or p, not ${JSON.stringify(device.type)}`);
      return;
    }
    if (device.type !== 'p') {
      for (const field of ['major', 'minor'] as const) checkRange(validation, `${path}.${field}`, device[field], MAX_DEVICE_NUMBER, true);
    }
    checkRange(validation, `${path}.fileMode`, device.fileMode, 0o7777, false);
    checkRange(validation, `${path}.uid`, device.uid, MAX_ID, false);
    checkRange(validation, `${path}.gid`, device.gid, MAX_ID, false);
    if (userNamespace) checkHostDevice(validation, path, device);
  });
}

function checkRange(validation: ValidationContext, path: string, value: number | undefined, max: number, required: boolean): void {
  if (value === undefined) {
    if (required) validation.problem(path, 'is required for a character or block device');
  } else if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    validation.problem(path, `must be an integer from 0 to ${max}`);
  }
}

/**
 * In a user namespace mknod(2) fails with EPERM, so the device is bound from the host's node at
 * the same path, which must be a device of the same type and numbers.
 */
function checkHostDevice(validation: ValidationContext, path: string, device: LinuxDevice): void {
  let stat;
  try {
    stat = statSync(device.path);
  } catch (error) {
    validation.problem(`${path}.path`, `${device.path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}: in a user namespace a device is bound from the host's node at the same path`);
    return;
  }
  let sameType = stat.isCharacterDevice();
  if (device.type === 'b') sameType = stat.isBlockDevice();
  if (device.type === 'p') sameType = stat.isFIFO();
  const [major, minor] = splitDeviceNumber(stat.rdev);
  if (!sameType || (device.type !== 'p' && (major !== device.major || minor !== device.minor))) {
    validation.problem(`${path}.path`, `the host's ${device.path} is not a ${device.type} device ${device.major}:${device.minor}, which a user namespace needs to bind it`);
  }
}

/** Splits a dev_t as glibc's major() and minor() do. */
function splitDeviceNumber(rdev: number): [number, number] {
  const value = BigInt(rdev);
  const major = ((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn);
  const minor = (value & 0xffn) | ((value >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

/**
 * Plans `linux.devices` inside the root: mknod with the spec's mode and owner, or in a user
 * namespace a bind of the host's node, because the kernel refuses mknod there.
 */
export function planSpecDevices(plan: Plan, plugin: string, devices: readonly LinuxDevice[], userNamespace: boolean): void {
  for (const device of devices) {
    const target = { path: device.path, root: 'rootfs' };
    if (userNamespace) {
      plan.add(plugin, 'filesystem', { op: 'mount', source: device.path, target, fstype: null, flags: ['MS_BIND'], data: null, create: 'file' });
      continue;
    }
    plan.add(plugin, 'filesystem', { op: 'mkdir', target: { path: posix.dirname(device.path), root: 'rootfs' }, mode: 0o755 });
    plan.add(plugin, 'filesystem', {
      op: 'mknod',
      target,
      type: device.type === 'u' ? 'c' : device.type,
      major: device.major ?? 0,
      minor: device.minor ?? 0,
      mode: device.fileMode ?? DEFAULT_FILE_MODE,
      uid: device.uid ?? 0,
      gid: device.gid ?? 0,
    });
  }
}
