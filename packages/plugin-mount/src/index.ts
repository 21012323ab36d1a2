import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { findNamespace, planNamespace, SpecError, type Container, type ContainerSpec, type Mount, type MountFlag, type Plan, type Plugin, type ValidationContext } from '@bulkhead/core';
import { builtinRootMountPoint, planBuiltinRoot, planBuiltinRootReadonly } from './builtin-root.js';
import { planDevices } from './devices.js';
import { planSpecDevices, validateDevices } from './spec-devices.js';
import { checkEtcFiles, etcFileContents, planEtcFiles, writeEtcFiles, type EtcFiles } from './etc-files.js';
import { DEV_NULL_SLOT, planDevNull, planMaskedPaths, planReadonlyPaths } from './masks.js';
import { planIdmappedBind, validateIdmap } from './idmap.js';
import { parseMountOptions, type ParsedOptions } from './options.js';
import { overlayPathProblems, planOverlayRoot, prepareOverlay, removeOverlay, type OverlayRecord, type OverlayRoot } from './overlay.js';
import { checkPolicy, forcedFlags, policyDenials, reportDenials, type MountPolicy } from './policy.js';
import { bindFlagsStep, needsSysfsBind, planSysfsBind, usernsContext, type UsernsContext } from './userns.js';

export const PLUGIN_NAME = '@bulkhead/plugin-mount';

/** mount_setattr(2), Linux 5.12: the same number on every architecture. */
const MOUNT_SETATTR = 442;

export { parseMountOptions, type ParsedOptions } from './options.js';
export { checkPolicy, policyDenials, type MountPolicy, type PolicyDenial } from './policy.js';
export type { EtcFiles, HostEntry, ResolvConf } from './etc-files.js';
export type { OverlayRoot } from './overlay.js';

/** Operator-level settings of the mount plugin, for every container of the runtime. */
export interface MountPluginOptions {
  /** Rules checked against every container's mounts before anything on the host changes. */
  policy?: MountPolicy;
  /** Files of /etc to write for each container and bind over its root filesystem's. */
  etcFiles?: EtcFiles;
  /** Use `root.path` as the read-only lower layer of an overlay with a per-container upper layer. */
  overlay?: OverlayRoot;
}

/** The slot that contains the directory a tmpcopyup mount covers, until it is copied. */
const COPY_UP_SLOT = 'tmpcopyup';

/** Filesystems that may only be mounted on a real directory, reached without symlinks. */
const NOFOLLOW_TYPES = new Set(['proc', 'sysfs']);
export { HOST_DIRECTORIES, BUILTIN_TMP_SIZE } from './builtin-root.js';
export { DEFAULT_DEVICES } from './devices.js';

/**
 * Creates the mount plugin, which owns the mount namespace and the root filesystem: private propagation, the root bound onto itself,
 * the spec's mounts in order (a tmpfs /dev gets the default devices), pivot_root, and a
 * read-only root on request. Without `root` in the spec, the container gets the built-in root.
 */
export function mountPlugin(options: MountPluginOptions = {}): Plugin {
  const problems = [...(options.policy === undefined ? [] : checkPolicy(options.policy)), ...(options.etcFiles === undefined ? [] : checkEtcFiles(options.etcFiles))];
  if (problems.length > 0) throw new Error(`${PLUGIN_NAME}: invalid options: ${problems.join('; ')}`);
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['mount'], fields: ['root', 'mounts', 'linux.rootfsPropagation', 'linux.maskedPaths', 'linux.readonlyPaths', 'linux.devices'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateMounts(validation, options));
      hooks.prepare.tapPromise(async (container) => prepareMounts(container, options));
      hooks.plan.tap((plan, container) => planMounts(plan, container, options));
      // A container created by another process (bulkhead create) is deleted from its record.
      hooks.cleanup.tap((container) => {
        const overlay = container.record(PLUGIN_NAME).overlay as OverlayRecord | undefined;
        if (overlay !== undefined) removeOverlay(overlay);
      });
    },
  };
}

function validateMounts(validation: ValidationContext, options: MountPluginOptions): void {
  const { spec } = validation;
  const ns = findNamespace(spec, 'mount');
  if (ns === undefined || ns.path !== undefined) {
    if (spec.root !== undefined || (spec.mounts ?? []).length > 0) validation.problem('linux.namespaces', 'a root filesystem and mounts need a new mount namespace');
    return;
  }
  if (spec.root !== undefined) validateRootPath(validation, resolve(validation.bundle, spec.root.path));
  if (options.overlay !== undefined && spec.root === undefined) validation.problem('root', 'an overlay root needs root.path, the image directory that becomes its lower layer');
  (spec.mounts ?? []).forEach((mount, i) => validateMount(validation, mount, `mounts[${i}]`));
  validateDevices(validation, spec.linux?.devices ?? [], findNamespace(spec, 'user') !== undefined);
  if (options.policy !== undefined) reportDenials(validation, PLUGIN_NAME, policyDenials(spec, options.policy));
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
  if (options.copyUp && (options.bind || mount.type !== 'tmpfs')) validation.problem(`${path}.options`, 'tmpcopyup applies only to a tmpfs mount');
  validateIdmap(validation, mount, path, options, process.geteuid!());
}

/** Host-side work before clone: the root's mount point or the overlay's layer directories, and the written /etc files. */
async function prepareMounts(container: Container, options: MountPluginOptions): Promise<void> {
  const ns = findNamespace(container.spec, 'mount');
  if (ns === undefined || ns.path !== undefined) return;
  if (container.spec.root === undefined) mkdirSync(builtinRootMountPoint(container.stateDir), { mode: 0o700 });
  if (options.overlay !== undefined && container.spec.root !== undefined) {
    const problems = overlayPathProblems(imagePath(container), dirname(container.stateDir));
    if (problems.length > 0) throw new SpecError(problems);
    await prepareOverlay(container, PLUGIN_NAME, options.overlay);
  }
  if (options.etcFiles !== undefined) writeEtcFiles(container, etcFileContents(options.etcFiles, container.spec.hostname));
}

function imagePath(container: Container): string {
  return realpathSync(resolve(container.bundle, container.spec.root!.path));
}

function planMounts(plan: Plan, container: Container, options: MountPluginOptions): void {
  const { spec } = container;
  if (planNamespace(plan, PLUGIN_NAME, spec, 'mount') !== 'new') return;

  // Private propagation first, so that nothing mounted from here on reaches the host.
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags: ['MS_REC', 'MS_PRIVATE'], data: null, create: 'none' });
  // The host's /dev/null, opened before anything from the root filesystem is reached, for masking.
  planDevNull(plan, PLUGIN_NAME);

  const mountSetattr = container.syscalls.syscallExists(MOUNT_SETATTR);
  const userns = usernsContext(spec, mountSetattr);
  planRoot(plan, container, options);
  const context: MountContext = { spec, forced: forcedFlags(options.policy), recursiveAttrs: mountSetattr, userns };
  (spec.mounts ?? []).forEach((mount, i) => {
    if (!leftToCgroupPlugin(mount)) planMount(plan, container.bundle, mount, i, context);
  });
  if (spec.mounts?.some((m) => m.destination === '/dev' && !parseMountOptions(m.options).bind)) {
    planDevices(plan, PLUGIN_NAME, spec.mounts.some((m) => m.destination === '/dev/pts'), (spec.linux?.devices ?? []).map((device) => device.path));
  }
  planSpecDevices(plan, PLUGIN_NAME, spec.linux?.devices ?? [], findNamespace(spec, 'user') !== undefined);
  if (options.etcFiles !== undefined) planEtcFiles(plan, PLUGIN_NAME, container, etcFileContents(options.etcFiles, spec.hostname).keys());

  // The pivot phase: after every plugin's mounts into the root, so that none covers a mask.
  planMaskedPaths(plan, PLUGIN_NAME, spec.linux?.maskedPaths ?? []);
  planReadonlyPaths(plan, PLUGIN_NAME, spec.linux?.readonlyPaths ?? [], (target, flags) => bindFlagsStep(userns, target, flags, false));

  // pivot_root fails on roots such as the initramfs; there the caller asks for a move and chroot.
  plan.add(PLUGIN_NAME, 'pivot', container.noPivotRoot ? { op: 'move-root', slot: 'rootfs' } : { op: 'pivot-root', slot: 'rootfs' });
  planRootAfterPivot(plan, spec, options.policy?.readonlyRoot === true, userns);
}

/** Plans the root: the built-in one, an overlay on the image, or the spec's directory bound onto itself, because pivot_root needs a mount point. */
function planRoot(plan: Plan, container: Container, options: MountPluginOptions): void {
  if (container.spec.root === undefined) {
    planBuiltinRoot(plan, PLUGIN_NAME, container.stateDir, container.syscalls.syscallExists(MOUNT_SETATTR), DEV_NULL_SLOT);
  } else if (options.overlay !== undefined) {
    planOverlayRoot(plan, PLUGIN_NAME, container, imagePath(container));
  } else {
    const rootfs = imagePath(container);
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: rootfs, target: { path: rootfs }, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, create: 'none' });
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'open-root', path: rootfs, slot: 'rootfs' });
  }
}

/**
 * cgroup and cgroup2 mounts are planned by the cgroup plugin, which has the container's own
 * cgroup directories and shows only those. It runs later in the filesystem phase, so such a mount
 * is made after every other mount of the spec. A runtime composed without the cgroup plugin gets
 * no cgroup filesystem in the container.
 */
function leftToCgroupPlugin(mount: Mount): boolean {
  return (mount.type === 'cgroup' || mount.type === 'cgroup2') && !parseMountOptions(mount.options).bind;
}

interface MountContext {
  spec: ContainerSpec;
  /** Flags the mount policy adds to every mount. */
  forced: MountFlag[];
  /** Whether the kernel has mount_setattr(2), which the recursive options need. */
  recursiveAttrs: boolean;
  /** Whether the container has a user namespace, which changes how flags and sysfs are set. */
  userns: UsernsContext;
}

function planMount(plan: Plan, bundle: string, mount: Mount, index: number, context: MountContext): void {
  const path = `mounts[${index}]`;
  const options = parseMountOptions(mount.options);
  const target = { path: mount.destination, root: 'rootfs' };
  const flags = [...new Set([...options.flags, ...context.forced])];
  const data = options.data.length > 0 ? options.data.join(',') : null;
  if (needsSysfsBind(context.userns, mount.type) && !options.bind) {
    planSysfsBind(plan, PLUGIN_NAME, context.userns, target, flags);
  } else if (options.bind) {
    const source = isAbsolute(mount.source!) ? mount.source! : resolve(bundle, mount.source!);
    const bindFlags: MountFlag[] = options.recursive ? ['MS_BIND', 'MS_REC'] : ['MS_BIND'];
    if (options.idmap !== 'none') planIdmappedBind(plan, PLUGIN_NAME, context.spec, mount, source, target, options, index);
    else plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source, target, fstype: null, flags: bindFlags, data: null, create: 'auto' });
    // A bind mount ignores every flag but MS_REC; the flags take effect on a remount (which the
    // executor retries with the flags the kernel locked, on EPERM) or, in a user namespace, on
    // mount_setattr, which keeps them.
    if (flags.length > 0) plan.add(PLUGIN_NAME, 'filesystem', bindFlagsStep(context.userns, target, flags, options.recursive));
  } else if (options.copyUp) {
    planCopyUp(plan, mount, target, flags, data);
  } else {
    const nofollow = NOFOLLOW_TYPES.has(mount.type!) ? { nofollow: true } : {};
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: mount.source ?? mount.type!, target, fstype: mount.type!, flags, data, create: 'directory', ...nofollow });
  }
  planRecursiveAttrs(plan, options.recursiveAttrs, target, path, context.recursiveAttrs);
  if (options.propagation.length > 0) {
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: null, target, fstype: null, flags: options.propagation, data: null, create: 'none' });
  }
}

/**
 * tmpcopyup: the directory the tmpfs covers is opened first (a missing one is created by the
 * mount and copies nothing), and its contents are copied into the new tmpfs. Without a mode in
 * the options, the tmpfs also takes the directory's owner and mode, as it does in other runtimes.
 */
function planCopyUp(plan: Plan, mount: Mount, target: { path: string; root: string }, flags: MountFlag[], data: string | null): void {
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'open-in-root', target, slot: COPY_UP_SLOT }, ['ENOENT']);
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: mount.source ?? 'tmpfs', target, fstype: 'tmpfs', flags, data, create: 'directory' });
  const explicitMode = (data ?? '').split(',').some((option) => option.startsWith('mode='));
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'copy-tree', slot: COPY_UP_SLOT, target, topMetadata: !explicitMode });
}

/** rro, rnosuid and the other recursive options: one mount_setattr(AT_RECURSIVE) over the mount and every mount below it. */
function planRecursiveAttrs(plan: Plan, recursive: ParsedOptions['recursiveAttrs'], target: { path: string; root: string }, path: string, available: boolean): void {
  if (recursive.options.length === 0) return;
  if (!available) {
    throw new SpecError([{ path: `${path}.options`, message: `options ${recursive.options.join(', ')} need mount_setattr(2) (Linux 5.12), which this kernel lacks` }]);
  }
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount-setattr', target, set: recursive.set, clear: recursive.clear, propagation: null, recursive: true });
}

function planRootAfterPivot(plan: Plan, spec: ContainerSpec, forceReadonly: boolean, userns: UsernsContext): void {
  const propagation = spec.linux?.rootfsPropagation;
  if (propagation !== undefined && propagation !== 'private' && propagation !== 'rprivate') {
    const flags = parseMountOptions([propagation]).propagation;
    plan.add(PLUGIN_NAME, 'pivot', { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags, data: null, create: 'none' });
  }
  if (spec.root === undefined) planBuiltinRootReadonly(plan, PLUGIN_NAME);
  if (spec.root !== undefined && (spec.root.readonly === true || forceReadonly)) plan.add(PLUGIN_NAME, 'pivot', bindFlagsStep(userns, { path: '/' }, ['MS_RDONLY'], false));
}
