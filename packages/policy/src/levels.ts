import { existsSync } from 'node:fs';
import type { ContainerSpec, NamespaceType } from '@bulkhead/core';
import { ownBoundingSet } from '@bulkhead/plugin-capabilities';
import { COMMON_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, MINIMAL_CAPABILITIES } from './defaults.js';
import { defaultSeccompProfile } from './seccomp.js';

export const ISOLATION_LEVELS = ['strict', 'moderate', 'permissive'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/** The concrete settings of one isolation level; docs/security.md shows them as a table. */
export interface LevelSettings {
  /** Namespaces the container gets of its own (added when the spec lacks them). */
  namespaces: readonly NamespaceType[];
  /** The bounding, effective and permitted sets; inheritable and ambient stay empty. */
  capabilities: readonly string[];
  /** 'default' is the runtime's built-in seccomp profile. */
  seccomp: 'default' | 'none';
  readonlyRoot: boolean;
  /** The default masked and read-only paths of /proc and /sys are set. */
  maskPaths: boolean;
  noNewPrivileges: boolean;
}

export const LEVELS: Readonly<Record<IsolationLevel, LevelSettings>> = Object.freeze({
  strict: { namespaces: ['pid', 'ipc', 'uts', 'mount', 'cgroup'], capabilities: [], seccomp: 'default', readonlyRoot: true, maskPaths: true, noNewPrivileges: true },
  moderate: { namespaces: ['pid', 'ipc', 'uts', 'mount', 'cgroup'], capabilities: MINIMAL_CAPABILITIES, seccomp: 'default', readonlyRoot: false, maskPaths: true, noNewPrivileges: true },
  permissive: { namespaces: ['pid', 'ipc', 'uts', 'mount'], capabilities: COMMON_CAPABILITIES, seccomp: 'none', readonlyRoot: false, maskPaths: true, noNewPrivileges: false },
});

export interface LevelSwitches {
  /**
   * Every capability of the runtime's own bounding set in the bounding, effective and permitted
   * sets, no seccomp profile, no masked or read-only paths and no no_new_privs. The container
   * can then do what the runtime can, inside its namespaces. Off by default.
   */
  allowPrivileged?: boolean;
  /**
   * The settings a container runtime inside the container needs: CAP_SYS_ADMIN (mount, new namespaces)
   * and the capabilities to set up users in them, /dev/fuse from the host when it has one, and
   * no no_new_privs, so that setuid helpers such as newuidmap work. Off by default.
   */
  allowNested?: boolean;
}

/** Capabilities that allowNested adds to the level's. */
export const NESTED_CAPABILITIES: readonly string[] = Object.freeze(['CAP_SYS_ADMIN', 'CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SYS_CHROOT', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_KILL']);

/** Returns the concrete settings of a level with the switches applied. */
export function levelSettings(level: IsolationLevel, switches: LevelSwitches = {}): LevelSettings {
  let settings: LevelSettings = { ...LEVELS[level] };
  if (switches.allowNested === true) {
    // The default seccomp profile denies the clone, unshare and mount calls a nested runtime makes.
    settings = { ...settings, capabilities: union(settings.capabilities, NESTED_CAPABILITIES), seccomp: 'none', noNewPrivileges: false };
  }
  if (switches.allowPrivileged === true) {
    settings = { ...settings, capabilities: ownBoundingSet(), seccomp: 'none', maskPaths: false, noNewPrivileges: false };
  }
  return settings;
}

/**
 * Returns a copy of the spec with a level's settings applied. The level replaces the spec's
 * capabilities, seccomp profile, no_new_privs and masked paths, adds its namespaces (keeping
 * the spec's joins), and makes the root read-only when the level asks for that; it never makes
 * a read-only root writable.
 */
export function applyLevel(spec: ContainerSpec, level: IsolationLevel, switches: LevelSwitches = {}): ContainerSpec {
  const settings = levelSettings(level, switches);
  const result = structuredClone(spec);
  const linux = (result.linux ??= {});

  // Namespaces of the level that the spec lacks.
  const namespaces = (linux.namespaces ??= []);
  for (const type of settings.namespaces) if (!namespaces.some((ns) => ns.type === type)) namespaces.push({ type });

  // Capabilities and no_new_privs of the container's process.
  if (result.process !== undefined) {
    const capabilities = [...settings.capabilities];
    result.process.capabilities = { bounding: capabilities, effective: [...capabilities], permitted: [...capabilities] };
    result.process.noNewPrivileges = settings.noNewPrivileges;
  }

  // The root filesystem and the paths of /proc and /sys.
  if (settings.readonlyRoot && result.root !== undefined) result.root.readonly = true;
  linux.maskedPaths = settings.maskPaths ? [...DEFAULT_MASKED_PATHS] : [];
  linux.readonlyPaths = settings.maskPaths ? [...DEFAULT_READONLY_PATHS] : [];

  // The seccomp profile, when the runtime has one to give.
  const withSeccomp = linux as { seccomp?: unknown };
  delete withSeccomp.seccomp;
  const profile = settings.seccomp === 'default' ? defaultSeccompProfile(settings.capabilities) : undefined;
  if (profile !== undefined) withSeccomp.seccomp = profile;

  if (switches.allowNested === true) addFuse(result);
  return result;
}

/** Binds the host's /dev/fuse into the container when the host has it, for FUSE file systems such as fuse-overlayfs. */
function addFuse(spec: ContainerSpec): void {
  if (!existsSync('/dev/fuse')) return;
  const mounts = (spec.mounts ??= []);
  if (!mounts.some((mount) => mount.destination === '/dev/fuse')) mounts.push({ destination: '/dev/fuse', source: '/dev/fuse', type: 'bind', options: ['bind', 'nosuid', 'noexec'] });
}

function union(first: readonly string[], second: readonly string[]): string[] {
  return [...new Set([...first, ...second])];
}

/** Parses a level name as the command line takes it, in any case. */
export function parseLevel(value: string): IsolationLevel | undefined {
  const lower = value.toLowerCase();
  return (ISOLATION_LEVELS as readonly string[]).includes(lower) ? (lower as IsolationLevel) : undefined;
}
