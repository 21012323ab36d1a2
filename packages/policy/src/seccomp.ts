/**
 * Returns the seccomp profile of the STRICT and MODERATE levels: the runtime's built-in default
 * profile, for a process with these capabilities (the common default profile allows some syscalls, such
 * as mount and unshare, only with CAP_SYS_ADMIN).
 *
 * Returns undefined while this repository has no seccomp plugin: a spec with `linux.seccomp`
 * would then be rejected, because no plugin handles the field. So the levels leave seccomp out
 * for now, and `bulkhead check` reports the missing profile of any container.
 */
export function defaultSeccompProfile(capabilities: readonly string[]): Record<string, unknown> | undefined {
  void capabilities;
  return undefined;
}
