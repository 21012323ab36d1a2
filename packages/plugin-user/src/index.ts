import { accessSync, chmodSync, constants, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { EXEC_FIFO, findNamespace, planNamespace, type Container, type ContainerSpec, type IdMapping, type Plan, type Plugin, type ValidationContext } from '@bulkhead/core';
import { isMapped, isOwnIdOnly, MAP_FIELDS, validateMappings, type MapKind } from './mappings.js';
import { isDelegated, readSubordinateRanges } from './subid.js';
import { HELPERS, writeMap, type MapMethod } from './write-maps.js';

export const PLUGIN_NAME = '@bulkhead/plugin-user';

export { formatMap, MAX_MAP_LINES } from './mappings.js';
export { readSubordinateRanges, type SubordinateRange } from './subid.js';

/** The user that runs the runtime: its effective ids decide how the maps are written. */
export interface Caller {
  uid: number;
  gid: number;
  name: string;
}

export interface UserPluginOptions {
  /** Default: the process's effective uid and gid, and the name of its user. */
  caller?: Caller;
  /** Default /etc/subuid. */
  subuidPath?: string;
  /** Default /etc/subgid. */
  subgidPath?: string;
  /** Returns the path of newuidmap or newgidmap, or undefined when it is missing. Default: a search of PATH, /usr/bin and /bin. */
  findHelper?: (name: string) => string | undefined;
}

interface Settings {
  caller: Caller;
  subidPaths: Record<MapKind, string>;
  findHelper: (name: string) => string | undefined;
}

const KINDS: readonly MapKind[] = ['uid', 'gid'];
const PR_SET_DUMPABLE = 4;

/**
 * Creates the plugin of the user namespace and `linux.uidMappings` / `linux.gidMappings`. The
 * executor clones the child with CLONE_NEWUSER together with every other new namespace, and the
 * kernel creates the user namespace first, so it owns all of them. The child then waits at the
 * attach barrier while this plugin writes its maps. Root writes /proc/PID/uid_map and gid_map
 * itself. An unprivileged caller writes a map of only its own id itself, denying setgroups first
 * for gid_map, and runs newuidmap and newgidmap for ranges delegated in /etc/subuid and /etc/subgid.
 */
export function userPlugin(options: UserPluginOptions = {}): Plugin {
  const settings: Settings = {
    caller: options.caller ?? currentCaller(),
    subidPaths: { uid: options.subuidPath ?? '/etc/subuid', gid: options.subgidPath ?? '/etc/subgid' },
    findHelper: options.findHelper ?? findInPath,
  };
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['user'], fields: ['linux.uidMappings', 'linux.gidMappings'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateUser(validation, settings));
      hooks.prepare.tap((container) => openExecFifo(container));
      hooks.plan.tap((plan, { spec }) => {
        if (planNamespace(plan, PLUGIN_NAME, spec, 'user') !== 'new') return;
        planNamespaceIds(plan, spec);
        const gidMethod = mapMethod('gid', mappingsOf(spec, 'gid'), settings);
        plan.setgroupsDenied = gidMethod?.kind === 'direct' && gidMethod.denySetgroups;
      });
      hooks.attach.tapPromise(async (container) => {
        if (!createsUserNamespace(container.spec)) return;
        for (const kind of KINDS) {
          const mappings = mappingsOf(container.spec, kind);
          await writeMap(container.pid!, kind, mappings, mapMethod(kind, mappings, settings)!);
          container.log.debug({ map: `${kind}_map`, mappings }, 'wrote user namespace map');
        }
      });
    },
  };
}

/**
 * Lets the container's process write the exec FIFO of a detached container (WAIT_FIFO). The
 * runtime creates it 0600 for its own user, but the process writes it as a mapped id of the user
 * namespace, which is another host id, and an unprivileged caller cannot chown it to that id. The
 * state directory stays 0700, so no other user reaches the FIFO by its path.
 */
function openExecFifo(container: Container): void {
  const fifo = join(container.stateDir, EXEC_FIFO);
  if (createsUserNamespace(container.spec) && existsSync(fifo)) chmodSync(fifo, 0o622);
}

/**
 * Makes the child a mapped user of its namespace right after the attach barrier. Writing the maps
 * does not change a process's ids: the child keeps its host ids, which the maps usually leave
 * unmapped, and the kernel rejects creating files (EOVERFLOW) and mounting with such ids. The
 * child becomes root of the namespace when the maps include it, so that the filesystem steps act
 * as the namespace's owner. The identity phase sets the spec's user later.
 *
 * Changing the effective uid makes the process non-dumpable, and then its /proc/self files belong
 * to the host's root, which the namespace cannot map, so later steps could not write
 * /proc/self/timens_offsets or oom_score_adj (EACCES). PR_SET_DUMPABLE restores their ownership
 * to the process's own ids. It also lets host processes with the container root's host uid
 * ptrace the child until execve, which recomputes the flag.
 */
function planNamespaceIds(plan: Plan, spec: ContainerSpec): void {
  const uidMappings = mappingsOf(spec, 'uid');
  const gidMappings = mappingsOf(spec, 'gid');
  if (uidMappings.length === 0 || gidMappings.length === 0) return;
  const gid = isMapped(gidMappings, 0) ? 0 : gidMappings[0]!.containerID;
  const uid = isMapped(uidMappings, 0) ? 0 : uidMappings[0]!.containerID;
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'setresgid', gid });
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'setresuid', uid });
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'prctl', option: PR_SET_DUMPABLE, args: [1, 0, 0, 0] });
}

function validateUser(validation: ValidationContext, settings: Settings): void {
  const { spec } = validation;
  const creates = createsUserNamespace(spec);
  for (const kind of KINDS) {
    const field = MAP_FIELDS[kind];
    const mappings = spec.linux?.[`${kind}Mappings`];
    if (mappings !== undefined && !creates) validation.problem(field, 'setting it needs a new user namespace in linux.namespaces');
    if (mappings === undefined && creates) validation.problem(field, 'is required with a new user namespace: without a map its processes have no ids');
    if (mappings === undefined || !creates) continue;
    validateMappings(validation, field, mappings);
    if (settings.caller.uid !== 0) validateDelegation(validation, kind, mappings, settings);
  }
  if (creates) validateProcessIds(validation, spec, settings);
}

/** Checks that the process's ids exist in the namespace, and that it needs no setgroups when that is denied. */
function validateProcessIds(validation: ValidationContext, spec: ContainerSpec, settings: Settings): void {
  const user = spec.process?.user;
  const uidMappings = spec.linux?.uidMappings ?? [];
  const gidMappings = spec.linux?.gidMappings ?? [];
  if (user === undefined) return;
  if (!isMapped(uidMappings, user.uid)) validation.problem('process.user.uid', `uid ${user.uid} is not mapped by linux.uidMappings`);
  if (!isMapped(gidMappings, user.gid)) validation.problem('process.user.gid', `gid ${user.gid} is not mapped by linux.gidMappings`);
  (user.additionalGids ?? []).forEach((gid, i) => {
    if (!isMapped(gidMappings, gid)) validation.problem(`process.user.additionalGids[${i}]`, `gid ${gid} is not mapped by linux.gidMappings`);
  });
  const gidMethod = mapMethod('gid', gidMappings, settings);
  if ((user.additionalGids ?? []).length > 0 && gidMethod?.kind === 'direct' && gidMethod.denySetgroups) {
    validation.problem('process.user.additionalGids', 'needs setgroups, which is denied when a non-root user maps only its own gid: map gid ranges delegated in /etc/subgid instead');
  }
}

/** For an unprivileged caller: every range must be its own id or delegated to it, and ranges need the helper. */
function validateDelegation(validation: ValidationContext, kind: MapKind, mappings: readonly IdMapping[], settings: Settings): void {
  const { caller } = settings;
  const owner = { name: caller.name, id: kind === 'uid' ? caller.uid : caller.gid };
  if (isOwnIdOnly(mappings, owner.id)) return;
  const path = settings.subidPaths[kind];
  const ranges = readSubordinateRanges(path);
  mappings.forEach((mapping, i) => {
    if (!isDelegated(mapping, ranges, owner)) {
      const last = mapping.hostID + mapping.size - 1;
      validation.problem(`${MAP_FIELDS[kind]}[${i}]`, `host ${kind}s ${mapping.hostID}-${last} are not delegated to user ${caller.name} (${kind} ${owner.id}) in ${path}`);
    }
  });
  if (settings.findHelper(HELPERS[kind]) === undefined) {
    validation.problem(MAP_FIELDS[kind], `mapping more than the caller's own ${kind} needs ${HELPERS[kind]}, which is not installed (Debian and Ubuntu package uidmap)`);
  }
}

/** Returns how the parent writes a map, or undefined when it needs a missing helper, which validation reports. */
function mapMethod(kind: MapKind, mappings: readonly IdMapping[], settings: Settings): MapMethod | undefined {
  const { caller } = settings;
  if (caller.uid === 0) return { kind: 'direct', denySetgroups: false };
  if (isOwnIdOnly(mappings, kind === 'uid' ? caller.uid : caller.gid)) return { kind: 'direct', denySetgroups: kind === 'gid' };
  const path = settings.findHelper(HELPERS[kind]);
  return path === undefined ? undefined : { kind: 'helper', path };
}

function createsUserNamespace(spec: ContainerSpec): boolean {
  const ns = findNamespace(spec, 'user');
  return ns !== undefined && ns.path === undefined;
}

function mappingsOf(spec: ContainerSpec, kind: MapKind): IdMapping[] {
  return spec.linux?.[`${kind}Mappings`] ?? [];
}

function currentCaller(): Caller {
  const uid = process.geteuid!();
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    // A uid without a passwd entry: /etc/subuid may still name it by number.
    name = String(uid);
  }
  return { uid, gid: process.getegid!(), name };
}

/** Searches PATH, then /usr/bin and /bin, for an executable. */
function findInPath(name: string): string | undefined {
  const directories = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/bin', '/bin'].filter((d) => d !== '');
  for (const directory of directories) {
    const path = join(directory, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not here: try the next directory.
    }
  }
  return undefined;
}
