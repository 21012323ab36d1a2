import { findNamespace, libc, SpecError, type Container, type Plugin, type Syscalls } from '@bulkhead/core';
import { cgroupsDelegated } from './delegation.js';
import { cgroupDirectory, detectLayout, type Layout } from './detect.js';
import type { CgroupDriver, CgroupRecord, CgroupStats } from './driver.js';
import { nodeCgroupFs, type CgroupFs } from './fs.js';
import type { LinuxResources } from './resources.js';
import { V1Driver } from './v1.js';
import { V2Driver } from './v2.js';
import { completeChange } from './update.js';
import { validateCgroupFields } from './validate.js';
import { CgroupEventStream, type CgroupEventOptions } from './stream.js';
import { PressureController, type AdjustOptions } from './adjust.js';
import { cgroupMounts, planCgroupMount } from './mount.js';

export const PLUGIN_NAME = '@bulkhead/plugin-cgroup';

export interface CgroupPluginOptions {
  /** The file layer; tests pass a recording fake. Default: node:fs. */
  fs?: CgroupFs;
}

/**
 * linux.resources, linux.cgroupsPath and the cgroup namespace. `prepare` creates the cgroup and
 * writes the limits, `attach` moves the waiting child into it, and a new cgroup namespace is
 * unshared by the child after that, so that the namespace is rooted at the container's cgroup.
 */
export function cgroupPlugin(options: CgroupPluginOptions = {}): Plugin {
  const fs = options.fs ?? nodeCgroupFs;
  const drivers = new WeakMap<Container, CgroupDriver>();
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['cgroup'], fields: ['linux.resources', 'linux.cgroupsPath'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateCgroupFields(validation));
      hooks.prepare.tapPromise(async (container) => {
        const driver = await prepareCgroup(fs, container);
        if (driver !== undefined) drivers.set(container, driver);
      });
      hooks.plan.tap((plan, container) => {
        const { spec } = container;
        const entry = findNamespace(spec, 'cgroup');
        if (entry?.path !== undefined) plan.namespace(PLUGIN_NAME, 'cgroup', entry.path);
        // Not a clone flag: the namespace must be rooted at the cgroup that attach moves the child into.
        else if (entry !== undefined) plan.add(PLUGIN_NAME, 'host', { op: 'unshare', namespaces: ['cgroup'] });
        // The spec's cgroup mounts, which the mount plugin leaves to this plugin (see mount.ts).
        for (const mount of cgroupMounts(spec)) planCgroupMount(plan, PLUGIN_NAME, spec, mount, cgroupRecord(container));
      });
      // A non-root user's container may run without a cgroup (see cgroupsDelegated).
      hooks.attach.tap((container) => drivers.get(container)?.enter(container.pid!));
      // A process exec'd into the container joins its cgroup, from the record of whichever process created it.
      hooks.execAttach.tap((container, pid) => {
        const record = cgroupRecord(container);
        if (record !== undefined) openDriver(fs, record).enter(pid);
      });
      hooks.freeze.tapPromise(async (container, frozen) => {
        const record = cgroupRecord(container);
        if (record === undefined) throw new Error(`container ${container.id} has no cgroup to freeze`);
        await openDriver(fs, record).freeze(frozen);
      });
      hooks.update.tap((container, change) => updateCgroup(fs, container, change as LinuxResources));
      // A container created by another process (bulkhead create) is deleted from its record.
      hooks.cleanup.tapPromise(async (container) => {
        const record = cgroupRecord(container);
        if (record !== undefined) await openDriver(fs, record).destroy();
      });
    },
  };
}

async function prepareCgroup(fs: CgroupFs, container: Container): Promise<CgroupDriver | undefined> {
  const record = locate(detectLayout(fs), container.spec.linux?.cgroupsPath ?? `bulkhead/${container.id}`);
  // Only the real filesystem has directories whose permissions tell delegation; a fake has none.
  if (fs === nodeCgroupFs && !cgroupsDelegated(container, record)) return undefined;
  const driver = openDriver(fs, record, container.syscalls);
  rejectExisting(fs, record);

  // Registered and saved before mkdir, so that a failure halfway, or a create killed halfway,
  // removes what was made: destroy removes only the directories listed in `created`.
  container.undo.defer(`remove cgroup ${Object.values(record.directories)[0]}`, () => driver.destroy());
  Object.assign(container.record(PLUGIN_NAME), { cgroup: record });
  await container.saveState();
  driver.create();
  await container.saveState();

  const resources = (container.spec.linux?.resources ?? {}) as LinuxResources;
  const problems = driver.check(resources);
  if (problems.length > 0) throw new SpecError(problems);
  driver.apply(resources);
  container.log.debug({ version: record.version, directories: record.directories }, 'created cgroup');
  return driver;
}

/** Writes a change of linux.resources, which the runtime validated merged with the stored spec, to a container's cgroup. */
function updateCgroup(fs: CgroupFs, container: Container, change: LinuxResources): void {
  const record = cgroupRecord(container);
  if (record === undefined) throw new Error(`update container ${container.id}: it has no cgroup`);
  const driver = openDriver(fs, record, container.syscalls);
  const resources = completeChange((container.spec.linux?.resources ?? {}) as LinuxResources, change);
  const problems = driver.check(resources);
  if (problems.length > 0) throw new SpecError(problems);
  driver.apply(resources);
  container.log.info({ resources }, 'updated cgroup limits');
}

/**
 * Rejects a cgroup that exists already. Joining it would share limits and processes with
 * whatever made it (another container with the same id under another state root, or one whose
 * cleanup failed), and deleting either container would kill the other's processes.
 */
function rejectExisting(fs: CgroupFs, record: CgroupRecord): void {
  for (const directory of new Set(Object.values(record.directories))) {
    if (fs.exists(directory)) {
      throw new SpecError([{ path: 'linux.cgroupsPath', message: `cgroup ${directory} exists already: another container uses it, or one that was not deleted left it; use another id or cgroupsPath, or remove it` }]);
    }
  }
}

/** Computes the container's directory in every hierarchy of the layout. */
function locate(layout: Layout, cgroupsPath: string): CgroupRecord {
  const record: CgroupRecord = { version: layout.version, directories: {}, mountpoints: {}, created: [] };
  if (layout.unified !== undefined) {
    record.directories['unified'] = cgroupDirectory(layout.unified, '/', cgroupsPath);
    record.mountpoints['unified'] = layout.unified;
  }
  if (layout.version === 'v1') {
    for (const hierarchy of layout.hierarchies) {
      const key = hierarchy.controllers.join(',');
      record.directories[key] = cgroupDirectory(hierarchy.mountpoint, hierarchy.own, cgroupsPath);
      record.mountpoints[key] = hierarchy.mountpoint;
    }
  }
  return record;
}

/**
 * Opens the driver for a record made by this plugin, such as one read back from a container's
 * state. `syscalls` loads and attaches the device program on cgroup v2.
 */
export function openDriver(fs: CgroupFs, record: CgroupRecord, syscalls: Syscalls = libc): CgroupDriver {
  return record.version === 'v1' ? new V1Driver(fs, record) : new V2Driver(fs, record, undefined, syscalls);
}

/** Returns the cgroup record that prepare saved for the container, from whichever process created it. */
function cgroupRecord(container: Container): CgroupRecord | undefined {
  return container.record(PLUGIN_NAME)['cgroup'] as CgroupRecord | undefined;
}

/** Returns the cpu, memory, pids and io figures of a container's cgroup, with the kernel's enforcement counters. */
export function cgroupStats(container: Container, options: CgroupPluginOptions = {}): CgroupStats {
  const record = cgroupRecord(container);
  if (record === undefined) throw new Error(`stats of container ${container.id}: it has no cgroup (was it created with ${PLUGIN_NAME}?)`);
  return openDriver(options.fs ?? nodeCgroupFs, record).stats();
}

/**
 * Streams the enforcement events of a container's cgroup (OOM kills, memory.high and memory.max
 * hits, pids.max hits, CPU throttling) and, every `statsInterval`, its statistics. The kernel's
 * notifications wake the stream where they exist; otherwise it polls the counters.
 */
export function cgroupEvents(container: Container, options: CgroupEventOptions & CgroupPluginOptions = {}): CgroupEventStream {
  const record = cgroupRecord(container);
  if (record === undefined) throw new Error(`events of container ${container.id}: it has no cgroup (was it created with ${PLUGIN_NAME}?)`);
  const fs = options.fs ?? nodeCgroupFs;
  return new CgroupEventStream(container, openDriver(fs, record), fs, record, options);
}

/**
 * Makes a controller that raises and lowers the container's CPU quota and memory limit from
 * pressure stall information within `options`' bounds. Call `start` on it; it emits an audit
 * event for each change, and stays off (`available` false) where the kernel has no PSI.
 */
export function adjustResources(container: Container, options: AdjustOptions & CgroupPluginOptions): PressureController {
  const record = cgroupRecord(container);
  if (record === undefined) throw new Error(`adjust container ${container.id}: it has no cgroup (was it created with ${PLUGIN_NAME}?)`);
  const fs = options.fs ?? nodeCgroupFs;
  return new PressureController(container, openDriver(fs, record), fs, record, options);
}

export { DEFAULT_DEVICE_RULES } from './devices.js';
export { sharesToWeight, blkioWeightToIoWeight } from './convert.js';
export { detectLayout, type Layout, type Hierarchy } from './detect.js';
export { nodeCgroupFs, type CgroupFs } from './fs.js';
export type { CgroupDriver, CgroupRecord, CgroupStats } from './driver.js';
export type { LinuxResources } from './resources.js';
export { CgroupEventStream, type CgroupEventOptions } from './stream.js';
export { enforcementEvents, readCounters, toRuncStats, type CgroupEvent, type EnforcementCounters, type EnforcementData, type EnforcementType, type RuncStats } from './events.js';
export { completeChange } from './update.js';
export { PressureController, type AdjustOptions, type AdjustEvent, type AdjustedResource } from './adjust.js';
export { classify, decide, parsePressure, DEFAULT_POLICY, type AdjustPolicy, type AdjustSample, type Decision, type Pressure, type PressureLine, type Streak, type Verdict } from './pressure.js';
