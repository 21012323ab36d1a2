import { readFileSync } from 'node:fs';
import type { ContainerSpec } from '@bulkhead/core';
import { defaultProfile, type LinuxSeccomp } from '@bulkhead/plugin-seccomp';
import { usageError } from './usage.js';

/**
 * --seccomp: 'default' sets bulkhead's built-in profile, 'unconfined' leaves linux.seccomp out
 * (no filter), and anything else is a file holding a linux.seccomp JSON object. The plugin
 * validates the profile and names its fields in errors.
 */
export function applySeccompFlag(spec: ContainerSpec, value: string | undefined): void {
  if (value === undefined || value === 'unconfined') return;
  const profile = value === 'default' ? defaultProfile() : readProfile(value);
  (spec.linux as { seccomp?: LinuxSeccomp }).seccomp = profile;
}

function readProfile(path: string): LinuxSeccomp {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(`--seccomp ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}: expected default, unconfined or a profile file`);
  }
  try {
    return JSON.parse(text) as LinuxSeccomp;
  } catch (error) {
    throw usageError(`--seccomp ${path}: not JSON: ${(error as Error).message}`);
  }
}
