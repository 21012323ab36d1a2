import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ContainerSpec, IdMapping, Mount, PathArg, Plan, ValidationContext } from '@bulkhead/core';
import type { ParsedOptions } from './options.js';

/**
 * Idmapped bind mounts (the `idmap` and `ridmap` options, with the mount's uidMappings and
 * gidMappings, or the container's when the mount has none). The executor's setup stage clones
 * the source as a detached mount and idmaps it before the clone, because the kernel allows
 * MOUNT_ATTR_IDMAP only with CAP_SYS_ADMIN in the user namespace that mounted the source's
 * filesystem, the initial one for host directories. So only root can use them, and only on
 * directories.
 */
export function validateIdmap(validation: ValidationContext, mount: Mount, path: string, options: ParsedOptions, euid: number): void {
  const hasMaps = mount.uidMappings !== undefined || mount.gidMappings !== undefined;
  if (options.idmap === 'none') {
    if (hasMaps) validation.problem(`${path}.options`, 'uidMappings and gidMappings of a mount need the idmap or ridmap option');
    return;
  }
  if (!options.bind) validation.problem(`${path}.options`, `${options.idmap} needs a bind mount: this runtime idmaps only bind mounts`);
  const maps = idmapMappings(validation.spec, mount);
  if (maps.uid === undefined) validation.problem(`${path}.uidMappings`, `is required with ${options.idmap} when linux.uidMappings is not set`);
  if (maps.gid === undefined) validation.problem(`${path}.gidMappings`, `is required with ${options.idmap} when linux.gidMappings is not set`);
  if (euid !== 0) validation.problem(`${path}.options`, `${options.idmap} needs root: the kernel allows MOUNT_ATTR_IDMAP only with CAP_SYS_ADMIN in the user namespace that mounted the source's filesystem`);
  if (options.bind && typeof mount.source === 'string') {
    const source = isAbsolute(mount.source) ? mount.source : resolve(validation.bundle, mount.source);
    try {
      if (!statSync(source).isDirectory()) validation.problem(`${path}.source`, `${source} is not a directory: this runtime idmaps only directories`);
    } catch (error) {
      validation.problem(`${path}.source`, `${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}

/** Returns the maps of an idmapped mount: its own, or the container's user namespace maps. */
export function idmapMappings(spec: ContainerSpec, mount: Mount): { uid: IdMapping[] | undefined; gid: IdMapping[] | undefined } {
  return { uid: mount.uidMappings ?? spec.linux?.uidMappings, gid: mount.gidMappings ?? spec.linux?.gidMappings };
}

/**
 * Plans an idmapped bind: the setup stage prepares the tree in a slot, the child makes the target
 * directory and attaches the tree there.
 */
export function planIdmappedBind(plan: Plan, plugin: string, spec: ContainerSpec, mount: Mount, source: string, target: PathArg, options: ParsedOptions, index: number): void {
  const slot = `idmap-${index}`;
  const maps = idmapMappings(spec, mount);
  plan.add(plugin, 'filesystem', { op: 'idmap-tree', source, slot, recursive: options.recursive, recursiveIdmap: options.idmap === 'ridmap', uidMappings: maps.uid!, gidMappings: maps.gid! });
  plan.add(plugin, 'filesystem', { op: 'mkdir', target, mode: 0o755 });
  plan.add(plugin, 'filesystem', { op: 'move-mount', slot, target });
}
