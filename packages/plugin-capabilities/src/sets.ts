import type { Capabilities, ValidationContext } from '@bulkhead/core';
import { CAPABILITIES } from './names.js';

export const SET_NAMES = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;
export type SetName = (typeof SET_NAMES)[number];

/** The five sets as masks, bit N for capability N, with the names that were skipped. */
export interface CapabilityMasks {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
  /** Names that are unknown, or beyond the running kernel's last capability, with their JSON path. */
  skipped: { path: string; name: string; reason: string }[];
}

/**
 * Turns the spec's capability lists into masks. A set that is absent is empty, as in runc: a
 * spec that gives `capabilities` without `inheritable` gets an empty inheritable set, whatever
 * the runtime's own process had. Unknown names, and names the running kernel lacks, are skipped.
 */
export function resolveMasks(capabilities: Capabilities, lastCapability: number): CapabilityMasks {
  const masks: CapabilityMasks = { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n, skipped: [] };
  for (const set of SET_NAMES) {
    (capabilities[set] ?? []).forEach((name, i) => {
      const path = `process.capabilities.${set}[${i}]`;
      const number = CAPABILITIES[name];
      if (number === undefined) {
        masks.skipped.push({ path, name, reason: `unknown capability ${JSON.stringify(name)}` });
      } else if (number > lastCapability) {
        masks.skipped.push({ path, name, reason: `${name} is not supported by this kernel, whose last capability is ${lastCapability}` });
      } else {
        masks[set] |= 1n << BigInt(number);
      }
    });
  }
  return masks;
}

/**
 * Reports the combinations the kernel rejects, at the field that breaks the rule. capset(2)
 * rejects an effective capability that is not permitted and an inheritable one outside the
 * bounding set. PR_CAP_AMBIENT_RAISE rejects one that is not both permitted and inheritable.
 */
export function validateMasks(validation: ValidationContext, capabilities: Capabilities, masks: CapabilityMasks): void {
  const has = (mask: bigint, name: string) => CAPABILITIES[name] !== undefined && ((mask >> BigInt(CAPABILITIES[name]!)) & 1n) === 1n;
  const rules: [SetName, (name: string) => boolean, string][] = [
    ['effective', (name) => has(masks.permitted, name), 'must also be in permitted: capset(2) rejects an effective capability that is not permitted'],
    ['inheritable', (name) => has(masks.bounding, name), 'must also be in bounding: capset(2) rejects an inheritable capability outside the bounding set'],
    ['ambient', (name) => has(masks.permitted, name) && has(masks.inheritable, name), 'must also be in permitted and inheritable: the kernel raises an ambient capability only then'],
  ];
  for (const [set, allowed, message] of rules) {
    (capabilities[set] ?? []).forEach((name, i) => {
      if (has(masks[set], name) && !allowed(name)) validation.problem(`process.capabilities.${set}[${i}]`, `${name} ${message}`);
    });
  }
}
