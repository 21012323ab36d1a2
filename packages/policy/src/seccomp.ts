import { defaultProfile } from '@bulkhead/plugin-seccomp';

/**
 * Returns the seccomp profile of the STRICT and MODERATE levels: the built-in default profile of
 * plugin-seccomp. It is the same for every capability set: it denies mount, unshare and the
 * other namespace and kernel-wide calls even to a process with CAP_SYS_ADMIN, which only the
 * PERMISSIVE level and allowPrivileged leave open.
 */
export function defaultSeccompProfile(capabilities: readonly string[]): Record<string, unknown> | undefined {
  void capabilities;
  return defaultProfile() as unknown as Record<string, unknown>;
}
