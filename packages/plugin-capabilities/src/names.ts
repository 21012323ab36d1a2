import { readFileSync } from 'node:fs';

/** Capability numbers by name, from the kernel's include/uapi/linux/capability.h (Linux 5.9 added 40). */
export const CAPABILITIES: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** Every capability name in the table above, in number order. */
export const CAPABILITY_NAMES: readonly string[] = Object.freeze(Object.keys(CAPABILITIES));

/** Returns the highest capability number the running kernel supports, from /proc/sys/kernel/cap_last_cap. */
export function kernelLastCapability(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    // Without procfs, assume that the kernel supports every capability of the table.
    return CAPABILITY_NAMES.length - 1;
  }
}

/**
 * Returns the names of the capabilities in this process's bounding set (/proc/self/status
 * CapBnd): the most that a container this runtime starts can have.
 */
export function ownBoundingSet(): string[] {
  const match = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match === null ? [...CAPABILITY_NAMES] : namesOf(BigInt(`0x${match[1]}`));
}

/** Returns the capability names of a mask, in number order. */
export function namesOf(mask: bigint): string[] {
  return CAPABILITY_NAMES.filter((name) => (mask >> BigInt(CAPABILITIES[name]!)) & 1n);
}

/** Returns the mask of capability names, bit N for capability N. */
export function maskOf(names: readonly string[]): bigint {
  return names.reduce((mask, name) => mask | (1n << BigInt(CAPABILITIES[name]!)), 0n);
}
