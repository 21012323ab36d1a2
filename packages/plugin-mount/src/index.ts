import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { findNamespace, planNamespace, type Container, type ContainerSpec, type Mount, type MountFlag, type Plan, type Plugin, type ValidationContext } from '@bulkhead/core';
import { planBuiltinRoot, planBuiltinRootReadonly } from './builtin-root.js';
import { planDevices } from './devices.js';
import { planIdmappedBind, validateIdmap } from './idmap.js';
import { planMaskedPaths, planReadonlyPaths } from './masks.js';
import { parseMountOptions } from './options.js';
import { bindFlagsStep, needsSysfsBind, planSysfsBind, usernsContext, type UsernsContext } from './userns.js';

export const PLUGIN_NAME = '@bulkhead/plugin-mount';

/** mount_setattr(2), Linux 5.12: the same number on every architecture. */
const MOUNT_SETATTR = 442;

export { parseMountOptions, type ParsedOptions } from './options.js';
export { HOST_DIRECTORIES, BUILTIN_TMP_SIZE } from './builtin-root.js';
export { DEFAULT_DEVICES } from './devices.js';

/**
 * Creates the mount plugin, which owns the mount namespace and the root filesystem: private propagation, the root bound onto itself,
 * the spec's mounts in order (a tmpfs /dev gets the default devices), pivot_root, and a
 * read-only root on request. Without `root` in the spec, the container gets the built-in root.
 */
export function mountPlugin(): Plugin {
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['mount'], fields: ['root', 'mounts', 'linux.rootfsPropagation', 'linux.maskedPaths', 'linux.readonlyPaths'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateMounts(validation));
      hooks.plan.tap((plan, container) => planMounts(plan, container));
    },
  };
}

function validateMounts(validation: ValidationContext): void {
  const { spec } = validation;
  const ns = findNamespace(spec, 'mount');
  if (ns === undefined || ns.path !== undefined) {
    if (spec.root !== undefined || (spec.mounts ?? []).length > 0) validation.problem('linux.namespaces', 'a root filesystem and mounts need a new mount namespace');
    return;
  }
  if (spec.root !== undefined) validateRootPath(validation, resolve(validation.bundle, spec.root.path));
  (spec.mounts ?? []).forEach((mount, i) => validateMount(validation, mount, `mounts[${i}]`));
  for (const field of ['maskedPaths', 'readonlyPaths'] as const) validatePaths(validation, `linux.${field}`, spec.linux?.[field]);
}

function validatePaths(validation: ValidationContext, field: string, paths: unknown): void {
  if (paths === undefined) return;
  if (!Array.isArray(paths)) {
    validation.problem(field, 'must be an array of absolute paths');
    return;
  }
  paths.forEach((path, i) => {
    if (typeof path !== 'string' || !path.startsWith('/')) validation.problem(`${field}[${i}]`, 'must be an absolute path');
  });
}

function validateRootPath(validation: ValidationContext, path: string): void {
  try {
    if (!statSync(path).isDirectory()) validation.problem('root.path', `${path} is not a directory`);
  } catch (error) {
    validation.problem('root.path', `${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

function validateMount(validation: ValidationContext, mount: Mount, path: string): void {
  if (typeof mount.destination !== 'string' || !mount.destination.startsWith('/')) {
    validation.problem(`${path}.destination`, 'must be an absolute path');
  } else if (mount.destination.split('/').includes('..')) {
    validation.problem(`${path}.destination`, 'must not contain ".."');
  }
  if (mount.options !== undefined && (!Array.isArray(mount.options) || mount.options.some((o) => typeof o !== 'string'))) {
    validation.problem(`${path}.options`, 'must be an array of strings');
    return;
  }
  const options = parseMountOptions(mount.options);
  for (const option of options.unsupported) validation.problem(`${path}.options`, `option ${option} is not supported by this runtime`);
  if (!options.bind && typeof mount.type !== 'string') validation.problem(`${path}.type`, 'is required for a mount that is not a bind mount');
  if (options.bind && typeof mount.source !== 'string') validation.problem(`${path}.source`, 'is required for a bind mount');
  validateIdmap(validation, mount, path, options, process.geteuid!());
}

function planMounts(plan: Plan, container: Container): void {
  const { spec } = container;
  if (planNamespace(plan, PLUGIN_NAME, spec, 'mount') !== 'new') return;

  // Private propagation first, so that nothing mounted from here on reaches the host.
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags: ['MS_REC', 'MS_PRIVATE'], data: null, create: 'none' });

  const mountSetattr = container.syscalls.syscallExists(MOUNT_SETATTR);
  const context = usernsContext(spec, mountSetattr);

  // The root: the spec's directory bound onto itself (pivot_root needs a mount point), or the built-in one.
  if (spec.root === undefined) {
    planBuiltinRoot(plan, PLUGIN_NAME, container.stateDir, mountSetattr);
  } else {
    const rootfs = realpathSync(resolve(container.bundle, spec.root.path));
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: rootfs, target: { path: rootfs }, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, create: 'none' });
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'open-root', path: rootfs, slot: 'rootfs' });
  }

  (spec.mounts ?? []).forEach((mount, index) => planMount(plan, spec, container.bundle, mount, index, context));
  if (spec.mounts?.some((m) => m.destination === '/dev' && !parseMountOptions(m.options).bind)) {
    planDevices(plan, PLUGIN_NAME, spec.mounts.some((m) => m.destination === '/dev/pts'));
  }
  // The pivot phase: after every plugin's mounts into the root, so that none covers a mask.
  planMaskedPaths(plan, PLUGIN_NAME, spec.linux?.maskedPaths ?? []);
  planReadonlyPaths(plan, PLUGIN_NAME, spec.linux?.readonlyPaths ?? [], (target, flags) => bindFlagsStep(context, target, flags, false));

  // pivot_root fails on roots such as the initramfs; there the caller asks for a move and chroot.
  plan.add(PLUGIN_NAME, 'pivot', container.noPivotRoot ? { op: 'move-root', slot: 'rootfs' } : { op: 'pivot-root', slot: 'rootfs' });
  planRootAfterPivot(plan, spec, context);
}

function planMount(plan: Plan, spec: ContainerSpec, bundle: string, mount: Mount, index: number, context: UsernsContext): void {
  const options = parseMountOptions(mount.options);
  const target = { path: mount.destination, root: 'rootfs' };
  const data = options.data.length > 0 ? options.data.join(',') : null;
  if (needsSysfsBind(context, mount.type) && !options.bind) {
    planSysfsBind(plan, PLUGIN_NAME, context, target, options.flags);
  } else if (options.bind) {
    const source = isAbsolute(mount.source!) ? mount.source! : resolve(bundle, mount.source!);
    const bindFlags: MountFlag[] = options.recursive ? ['MS_BIND', 'MS_REC'] : ['MS_BIND'];
    if (options.idmap !== 'none') planIdmappedBind(plan, PLUGIN_NAME, spec, mount, source, target, options, index);
    else plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source, target, fstype: null, flags: bindFlags, data: null, create: 'auto' });
    // A bind mount ignores every flag but MS_REC; the flags take effect on a remount or mount_setattr.
    if (options.flags.length > 0) plan.add(PLUGIN_NAME, 'filesystem', bindFlagsStep(context, target, options.flags, options.recursive));
  } else {
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: mount.source ?? mount.type!, target, fstype: mount.type!, flags: options.flags, data, create: 'directory' });
  }
  if (options.propagation.length > 0) {
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: null, target, fstype: null, flags: options.propagation, data: null, create: 'none' });
  }
}

function planRootAfterPivot(plan: Plan, spec: ContainerSpec, context: UsernsContext): void {
  const propagation = spec.linux?.rootfsPropagation;
  if (propagation !== undefined && propagation !== 'private' && propagation !== 'rprivate') {
    const flags = parseMountOptions([propagation]).propagation;
    plan.add(PLUGIN_NAME, 'pivot', { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags, data: null, create: 'none' });
  }
  if (spec.root === undefined) planBuiltinRootReadonly(plan, PLUGIN_NAME);
  if (spec.root?.readonly === true) plan.add(PLUGIN_NAME, 'pivot', bindFlagsStep(context, { path: '/' }, ['MS_RDONLY'], false));
}
