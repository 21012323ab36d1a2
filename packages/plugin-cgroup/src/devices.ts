import type { DeviceRule } from './resources.js';

/**
 * Device rules appended after the spec's own whenever it gives any, as runc does. A spec that
 * denies every device (podman sends `{ allow: false, access: "rwm" }`) so still leaves the devices
 * every process expects: mknod of any node (using one is still checked), /dev/null, /dev/random,
 * /dev/full, /dev/tty, /dev/zero, /dev/urandom, the pty slaves (136:*), /dev/ptmx and
 * /dev/net/tun. The spec cannot take these away, because they come last.
 */
export const DEFAULT_DEVICE_RULES: readonly Readonly<DeviceRule>[] = Object.freeze([
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
]);

/** Returns the rules to write: the spec's in order, then the defaults, or none when the spec gives none. */
export function deviceRules(rules: readonly DeviceRule[] | undefined): readonly DeviceRule[] {
  return rules === undefined || rules.length === 0 ? [] : [...rules, ...DEFAULT_DEVICE_RULES];
}
