import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpecError, type Container } from '@bulkhead/core';
import type { CgroupRecord } from './driver.js';

/**
 * Decides whether a container run by a non-root user gets cgroups. It does only where its cgroup
 * directories could be created: the nearest existing parent of each is writable, which is the case
 * in a subtree delegated to the user (systemd's Delegate=yes on cgroup v2). Elsewhere a container
 * without linux.resources or linux.cgroupsPath runs without cgroups, with a warning, and one that
 * sets them is rejected. Root always gets cgroups.
 */
export function cgroupsDelegated(container: Container, record: CgroupRecord, euid: number = process.geteuid!()): boolean {
  if (euid === 0) return true;
  const denied = Object.values(record.directories).find((directory) => !isWritable(nearestExisting(directory)));
  if (denied === undefined) return true;

  const reason = `cgroup ${denied} is not delegated to uid ${euid}: its parent is not writable`;
  const { linux } = container.spec;
  if (linux?.resources !== undefined && Object.keys(linux.resources).length > 0) {
    throw new SpecError([{ path: 'linux.resources', message: `needs a cgroup, but ${reason}; run as root, or delegate a cgroup v2 subtree to the user` }]);
  }
  if (linux?.cgroupsPath !== undefined) throw new SpecError([{ path: 'linux.cgroupsPath', message: `cannot be created: ${reason}` }]);
  container.log.warn({ directory: denied, uid: euid }, `cgroups skipped: ${reason}; the container runs without cgroup limits, and pause, resume and stats are not available`);
  return false;
}

function nearestExisting(path: string): string {
  let current = path;
  while (!existsSync(current) && current !== dirname(current)) current = dirname(current);
  return current;
}

function isWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
