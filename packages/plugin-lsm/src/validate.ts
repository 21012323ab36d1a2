import { posix } from 'node:path';
import type { ContainerSpec, Process, SpecProblem } from '@bulkhead/core';
import { readAppArmorProfiles, readLsmStatus, type LsmName } from './kernel.js';

/** The AppArmor name of no confinement: it is never in the profiles file, and every kernel with AppArmor accepts it. */
export const APPARMOR_UNCONFINED = 'unconfined';

/** An SELinux context: user:role:type, then an optional MLS/MCS level, which may contain colons and commas. */
const SELINUX_CONTEXT = /^[^:\s]+:[^:\s]+:[^:\s]+(?::\S+)?$/;

/**
 * Checks the process labels of `process` against the running kernel: its LSM must be active
 * and an AppArmor profile must be loaded. `prefix` is the JSON path of the process ("process").
 */
export function processLabelProblems(process: Process | undefined, prefix: string, securityfs: string): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const profile = process?.apparmorProfile;
  if (profile !== undefined && profile !== '') problems.push(...appArmorProblems(`${prefix}.apparmorProfile`, profile, securityfs));
  const label = process?.selinuxLabel;
  if (label !== undefined && label !== '') problems.push(...selinuxProblems(`${prefix}.selinuxLabel`, label, securityfs));
  return problems;
}

/** Checks linux.mountLabel: the SELinux LSM, the context's form, and no quote that would end the context= option early. */
export function mountLabelProblems(spec: ContainerSpec, securityfs: string): SpecProblem[] {
  const label = spec.linux?.mountLabel;
  if (label === undefined || label === '') return [];
  const field = 'linux.mountLabel';
  if (label.includes('"')) return [{ path: field, message: 'must not contain a double quote, because the label goes into a quoted context= mount option' }];
  return selinuxProblems(field, label, securityfs);
}

/** A process label is written to /proc/self/attr in the container, so the spec must mount a /proc there. */
export function procMountProblems(spec: ContainerSpec): SpecProblem[] {
  const process = spec.process;
  const fields = [process?.apparmorProfile ? 'process.apparmorProfile' : undefined, process?.selinuxLabel ? 'process.selinuxLabel' : undefined].filter((field) => field !== undefined);
  if (fields.length === 0) return [];
  if ((spec.mounts ?? []).some((mount) => posix.normalize(mount.destination).replace(/\/$/, '') === '/proc')) return [];
  return fields.map((path) => ({ path, message: 'needs a mount at /proc in the container, because the label is set through /proc/self/attr right before exec' }));
}

function appArmorProblems(field: string, profile: string, securityfs: string): SpecProblem[] {
  // The kernel strips white space around the name it is given and reads one line.
  if (/^\s|\s$|[\n\r]/.test(profile)) return [{ path: field, message: `invalid AppArmor profile name ${JSON.stringify(profile)}: it must not start or end with white space or contain a line break` }];
  const missing = missingLsm(field, 'apparmor', securityfs);
  if (missing !== undefined) return [missing];
  if (profile === APPARMOR_UNCONFINED) return [];
  let loaded: Set<string>;
  try {
    loaded = readAppArmorProfiles(securityfs);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    return [{ path: field, message: `cannot check that AppArmor profile ${JSON.stringify(profile)} is loaded: reading ${posix.join(securityfs, 'apparmor', 'profiles')} failed with ${code}` }];
  }
  if (loaded.has(profile)) return [];
  return [{ path: field, message: `AppArmor profile ${JSON.stringify(profile)} is not loaded in the kernel: load it with apparmor_parser -r FILE first` }];
}

function selinuxProblems(field: string, label: string, securityfs: string): SpecProblem[] {
  if (!SELINUX_CONTEXT.test(label)) return [{ path: field, message: `invalid SELinux context ${JSON.stringify(label)}: expected user:role:type or user:role:type:level` }];
  const missing = missingLsm(field, 'selinux', securityfs);
  return missing === undefined ? [] : [missing];
}

function missingLsm(field: string, lsm: LsmName, securityfs: string): SpecProblem | undefined {
  const status = readLsmStatus(securityfs);
  if (status.active.includes(lsm)) return undefined;
  const why = status.unreadable ?? `active LSMs: ${status.active.join(',') || 'none'}`;
  return { path: field, message: `needs the ${lsm} LSM, which the running kernel does not have (${why})` };
}
