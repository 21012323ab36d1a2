import { readSubordinateRanges } from '@bulkhead/plugin-user';
import type { ContainerSpec, IdMapping } from '@bulkhead/core';
import { userInfo } from 'node:os';
import { existsSync } from 'node:fs';

/** How many subordinate ids `run` maps after the caller's own, when /etc/subuid and /etc/subgid delegate them. */
const SUBORDINATE_IDS = 65536;

/** The caller of a rootless run: its ids, and its name as /etc/subuid names it. */
export interface RootlessCaller {
  uid: number;
  gid: number;
  name: string;
}

/**
 * Adapts a `run` spec to a non-root caller with a new user namespace. Root in it is the caller's
 * own uid and gid. The first range that /etc/subuid and /etc/subgid delegate to the caller follows
 * from id 1 on, mapped through newuidmap and newgidmap, if both files have one and the helpers are
 * installed. With only its own id mapped, gid 5 (tty) does not exist in the namespace, so devpts
 * is mounted without `gid=5`.
 */
export function makeRootless(spec: ContainerSpec, caller: RootlessCaller = currentCaller(), files = { subuid: '/etc/subuid', subgid: '/etc/subgid' }): void {
  const uidRange = subordinateRange(files.subuid, caller.name, caller.uid);
  const gidRange = subordinateRange(files.subgid, caller.name, caller.uid);
  const helpers = existsSync('/usr/bin/newuidmap') && existsSync('/usr/bin/newgidmap');
  const ranges = helpers && uidRange !== undefined && gidRange !== undefined;
  const linux = (spec.linux ??= {});
  linux.namespaces = [...(linux.namespaces ?? []).filter((ns) => ns.type !== 'user'), { type: 'user' }];
  linux.uidMappings = mappings(caller.uid, ranges ? uidRange : undefined);
  linux.gidMappings = mappings(caller.gid, ranges ? gidRange : undefined);
  if (!ranges) {
    for (const mount of spec.mounts ?? []) {
      if (mount.type === 'devpts') mount.options = mount.options?.filter((option) => option !== 'gid=5');
    }
  }
}

function mappings(ownId: number, range: { start: number; count: number } | undefined): IdMapping[] {
  const own = { containerID: 0, hostID: ownId, size: 1 };
  return range === undefined ? [own] : [own, { containerID: 1, hostID: range.start, size: Math.min(range.count, SUBORDINATE_IDS) }];
}

function subordinateRange(path: string, name: string, uid: number): { start: number; count: number } | undefined {
  return readSubordinateRanges(path).find((range) => (range.owner === name || range.owner === String(uid)) && range.count > 0);
}

function currentCaller(): RootlessCaller {
  const uid = process.geteuid!();
  return { uid, gid: process.getegid!(), name: userInfo().username };
}
