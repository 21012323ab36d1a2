import type { ContainerSpec, MountFlag, ValidationContext } from '@bulkhead/core';
import { parseMountOptions } from './options.js';

/**
 * An operator's mount policy. It is checked against every container's spec before anything on
 * the host changes: allowedTypes, maxMounts and maxTmpfsSize deny a spec, while the forced flags
 * and readonlyRoot are applied to it.
 */
export interface MountPolicy {
  /** Filesystem types the spec's mounts may have; a bind mount counts as type "bind". */
  allowedTypes?: string[];
  /** Maximum number of entries in the spec's `mounts`. */
  maxMounts?: number;
  /** Maximum sum of the `size=` options of the spec's tmpfs mounts, in bytes. */
  maxTmpfsSize?: number;
  /** nosuid, nodev and noexec added to every mount of the spec. */
  force?: { nosuid?: boolean; nodev?: boolean; noexec?: boolean };
  /** Makes the root filesystem read-only regardless of `root.readonly`. */
  readonlyRoot?: boolean;
}

/** One denied mount: the JSON path of the spec field, the policy rule, and why. */
export interface PolicyDenial {
  path: string;
  rule: keyof MountPolicy;
  message: string;
}

const POLICY_KEYS = new Set(['allowedTypes', 'maxMounts', 'maxTmpfsSize', 'force', 'readonlyRoot']);

/** Returns the problems of a policy document, each with its JSON path; an empty list means valid. */
export function checkPolicy(policy: unknown): string[] {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) return ['mount policy: must be an object'];
  const problems: string[] = [];
  const record = policy as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!POLICY_KEYS.has(key)) problems.push(`${key}: unknown mount policy rule`);
  if (record.allowedTypes !== undefined && (!Array.isArray(record.allowedTypes) || record.allowedTypes.some((t) => typeof t !== 'string'))) {
    problems.push('allowedTypes: must be an array of filesystem type names');
  }
  for (const key of ['maxMounts', 'maxTmpfsSize'] as const) {
    const value = record[key];
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 0)) problems.push(`${key}: must be a non-negative integer`);
  }
  if (record.readonlyRoot !== undefined && typeof record.readonlyRoot !== 'boolean') problems.push('readonlyRoot: must be true or false');
  if (record.force !== undefined) problems.push(...checkForce(record.force));
  return problems;
}

function checkForce(force: unknown): string[] {
  if (force === null || typeof force !== 'object' || Array.isArray(force)) return ['force: must be an object with nosuid, nodev and noexec'];
  return Object.entries(force as Record<string, unknown>).flatMap(([key, value]) => {
    if (!['nosuid', 'nodev', 'noexec'].includes(key)) return [`force.${key}: unknown flag; the policy can force nosuid, nodev and noexec`];
    return typeof value === 'boolean' ? [] : [`force.${key}: must be true or false`];
  });
}

/** Returns every mount of the spec that the policy denies, in the order of `mounts`. */
export function policyDenials(spec: ContainerSpec, policy: MountPolicy): PolicyDenial[] {
  const mounts = spec.mounts ?? [];
  const denials: PolicyDenial[] = [];
  if (policy.maxMounts !== undefined && mounts.length > policy.maxMounts) {
    denials.push({ path: `mounts[${policy.maxMounts}]`, rule: 'maxMounts', message: `the spec has ${mounts.length} mounts and the policy allows at most ${policy.maxMounts}` });
  }
  let tmpfsTotal = 0;
  mounts.forEach((mount, i) => {
    const path = `mounts[${i}]`;
    const options = parseMountOptions(mount.options);
    const type = options.bind ? 'bind' : mount.type;
    if (policy.allowedTypes !== undefined && !policy.allowedTypes.includes(type ?? '')) {
      denials.push({ path, rule: 'allowedTypes', message: `type ${type ?? '(none)'} at ${mount.destination} is not one of the allowed types ${policy.allowedTypes.join(', ')}` });
    }
    if (policy.maxTmpfsSize === undefined || type !== 'tmpfs') return;
    const size = tmpfsSize(options.data);
    if (size === undefined) {
      denials.push({ path, rule: 'maxTmpfsSize', message: `tmpfs at ${mount.destination} needs a size= option in bytes, k, m or g, because the policy limits the total tmpfs size` });
      return;
    }
    tmpfsTotal += size;
    if (tmpfsTotal > policy.maxTmpfsSize) {
      denials.push({ path, rule: 'maxTmpfsSize', message: `tmpfs at ${mount.destination} brings the total tmpfs size to ${tmpfsTotal} bytes and the policy allows at most ${policy.maxTmpfsSize}` });
    }
  });
  return denials;
}

/** Reports each denial as a spec problem that names the mount and the rule, and as an audit event. */
export function reportDenials(validation: ValidationContext, plugin: string, denials: readonly PolicyDenial[]): void {
  for (const denial of denials) {
    validation.deny(plugin, denial.path, `mount.policy.${denial.rule}`, `denied by mount policy rule ${denial.rule}: ${denial.message}`, { rule: denial.rule, reason: denial.message });
  }
}

/** Returns the flags the policy adds to every mount of the spec. */
export function forcedFlags(policy: MountPolicy | undefined): MountFlag[] {
  const force = policy?.force ?? {};
  const flags: MountFlag[] = [];
  if (force.nosuid === true) flags.push('MS_NOSUID');
  if (force.nodev === true) flags.push('MS_NODEV');
  if (force.noexec === true) flags.push('MS_NOEXEC');
  return flags;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Returns a tmpfs's size= in bytes, from the last size= option as the kernel takes it. A size in
 * percent of RAM, or none (which the kernel makes half of RAM), returns undefined.
 */
export function tmpfsSize(data: readonly string[]): number | undefined {
  const option = data.filter((o) => o.startsWith('size=')).at(-1);
  const match = option === undefined ? null : /^size=(\d+)([kmg]?)$/i.exec(option);
  if (match === null) return undefined;
  return Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
}
