import { writeFileSync } from 'node:fs';
import { inheritFromInit, SyscallError, type Container, type Plan, type Plugin, type Process, type ValidationContext } from '@bulkhead/core';
import { CAPABILITIES, CAPABILITY_NAMES, kernelLastCapability, namesOf } from './names.js';
import { resolveMasks, validateMasks, type CapabilityMasks } from './sets.js';

export { CAPABILITIES, CAPABILITY_NAMES, kernelLastCapability, maskOf, namesOf, ownBoundingSet } from './names.js';
export { resolveMasks, SET_NAMES, type CapabilityMasks, type SetName } from './sets.js';

export const PLUGIN_NAME = '@bulkhead/plugin-capabilities';

const PR_SET_KEEPCAPS = 8;
const PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_RAISE = 2;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;

/** The range of /proc/PID/oom_score_adj (OOM_SCORE_ADJ_MIN and OOM_SCORE_ADJ_MAX). */
const OOM_SCORE_ADJ_RANGE = [-1000, 1000] as const;

export interface CapabilitiesOptions {
  /** The highest capability number of the kernel. Default: /proc/sys/kernel/cap_last_cap. */
  lastCapability?: number;
}

/**
 * The privileges of the container process and of every process `exec` starts in it:
 * `process.capabilities`, `process.noNewPrivileges` and `process.oomScoreAdj`. All five
 * capability sets are applied exactly as given, and a set that is absent is empty.
 *
 * Child side, around the core's identity steps:
 *
 * | phase      | steps | why there |
 * | ---------- | ----- | --------- |
 * | limits     | PR_SET_KEEPCAPS 1; PR_CAPBSET_DROP for each capability outside bounding | still root with every capability: the drop needs CAP_SETPCAP, and keepcaps keeps the permitted set through setresuid to another user |
 * | identity   | (core) setgroups, setresgid, setresuid | clears the effective set of a non-root user |
 * | privileges | capset(effective, permitted, inheritable); PR_CAP_AMBIENT_CLEAR_ALL; PR_CAP_AMBIENT_RAISE for each ambient; PR_SET_NO_NEW_PRIVS | after the identity change; ambient needs the capability permitted and inheritable |
 *
 * Use this plugin before the pid plugin: both add steps to the privileges phase, in the order
 * the plugins were registered, and the pid plugin's optional init should fork after the
 * privileges are set, so that it has the container's privileges too.
 *
 * After execve the kernel recomputes the sets (capabilities(7)): a process of uid 0 gets
 * permitted and effective = bounding | inheritable, whatever permitted was before; any other
 * user keeps only its ambient capabilities.
 *
 * The OOM score is written by the runtime to /proc/PID/oom_score_adj while the process waits at
 * its attach barrier.
 */
export function capabilitiesPlugin(options: CapabilitiesOptions = {}): Plugin {
  const lastCapability = () => options.lastCapability ?? kernelLastCapability();
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { fields: ['process.capabilities', 'process.noNewPrivileges', 'process.oomScoreAdj'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validatePrivileges(validation, lastCapability()));
      hooks.plan.tap((plan, container) => planPrivileges(plan, container.spec.process, lastCapability()));
      hooks.planExec.tap((plan, container, process) => planPrivileges(plan, execPrivileges(container, process), lastCapability()));
      hooks.attach.tap((container) => writeOomScoreAdj(container.pid!, container.spec.process?.oomScoreAdj));
      hooks.execAttach.tap((container, pid) => writeOomScoreAdj(pid, container.spec.process?.oomScoreAdj));
      // The init's decisions are recorded once its steps ran. An exec's are recorded when its plan
      // is made, because the execAttach hook that follows does not receive the exec'd process.
      hooks.created.tap((container) => auditPrivileges(container, container.spec.process, lastCapability(), { process: 'init', pid: container.pid! }));
      hooks.planExec.tap((_plan, container, process) => auditPrivileges(container, execPrivileges(container, process), lastCapability(), { process: 'exec' }));
    },
  };
}

/**
 * Returns the privileges of a process started by exec: its own capabilities and no_new_privs
 * when its process gives them, the container's otherwise, as runc does.
 */
export function execPrivileges(container: Container, process: Process): Process {
  return inheritFromInit(container, process, ['capabilities', 'noNewPrivileges']);
}

function validatePrivileges(validation: ValidationContext, lastCapability: number): void {
  const process = validation.spec.process;
  if (process === undefined) return;
  const adj = process.oomScoreAdj;
  if (adj !== undefined && (adj < OOM_SCORE_ADJ_RANGE[0] || adj > OOM_SCORE_ADJ_RANGE[1])) {
    validation.problem('process.oomScoreAdj', `must be from ${OOM_SCORE_ADJ_RANGE[0]} to ${OOM_SCORE_ADJ_RANGE[1]}; got ${adj}`);
  }
  if (process.capabilities === undefined) return;
  const masks = resolveMasks(process.capabilities, lastCapability);
  for (const skipped of masks.skipped) validation.warn(skipped.path, `${skipped.reason}; skipped`);
  validateMasks(validation, process.capabilities, masks);
}

/** Appends the steps of the table above. Without `capabilities`, the process keeps the sets the identity change leaves it. */
function planPrivileges(plan: Plan, process: Process | undefined, lastCapability: number): void {
  if (process === undefined) return;
  if (process.capabilities !== undefined) {
    const masks = resolveMasks(process.capabilities, lastCapability);
    planBounding(plan, masks, lastCapability);
    planSets(plan, masks);
  }
  if (process.noNewPrivileges === true) plan.add(PLUGIN_NAME, 'privileges', { op: 'prctl', option: PR_SET_NO_NEW_PRIVS, args: [1, 0, 0, 0] });
}

function planBounding(plan: Plan, masks: CapabilityMasks, lastCapability: number): void {
  plan.add(PLUGIN_NAME, 'limits', { op: 'prctl', option: PR_SET_KEEPCAPS, args: [1, 0, 0, 0] });
  for (let cap = 0; cap <= lastCapability; cap++) {
    if (((masks.bounding >> BigInt(cap)) & 1n) === 0n) plan.add(PLUGIN_NAME, 'limits', { op: 'prctl', option: PR_CAPBSET_DROP, args: [cap, 0, 0, 0], name: CAPABILITY_NAMES[cap] ?? `capability ${cap}` });
  }
}

function planSets(plan: Plan, masks: CapabilityMasks): void {
  plan.add(PLUGIN_NAME, 'privileges', {
    op: 'capset',
    effective: masks.effective,
    permitted: masks.permitted,
    inheritable: masks.inheritable,
    names: { effective: namesOf(masks.effective), permitted: namesOf(masks.permitted), inheritable: namesOf(masks.inheritable) },
  });
  // Cleared first, so that ambient capabilities of the runtime's own process never reach the container.
  plan.add(PLUGIN_NAME, 'privileges', { op: 'prctl', option: PR_CAP_AMBIENT, args: [PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0], name: 'PR_CAP_AMBIENT_CLEAR_ALL' });
  for (const name of namesOf(masks.ambient)) {
    plan.add(PLUGIN_NAME, 'privileges', { op: 'prctl', option: PR_CAP_AMBIENT, args: [PR_CAP_AMBIENT_RAISE, CAPABILITIES[name]!, 0, 0], name: `PR_CAP_AMBIENT_RAISE ${name}` });
  }
}

/** Records what the steps above deny or change as audit events. */
function auditPrivileges(container: Container, process: Process | undefined, lastCapability: number, target: { process: 'init' | 'exec'; pid?: number }): void {
  if (process === undefined) return;
  const record = (action: string, decision: 'deny' | 'change', field: string, detail: Record<string, unknown>) => container.audit({ plugin: PLUGIN_NAME, decision, action, field, ...target, detail });
  if (process.capabilities !== undefined) {
    const masks = resolveMasks(process.capabilities, lastCapability);
    for (const skipped of masks.skipped) record('capabilities.skip', 'deny', skipped.path, { capability: skipped.name, reason: skipped.reason });
    const all = (1n << BigInt(lastCapability + 1)) - 1n;
    const dropped = namesOf(all & ~masks.bounding);
    if (dropped.length > 0) record('capabilities.bounding.drop', 'change', 'process.capabilities.bounding', { dropped });
    record('capabilities.set', 'change', 'process.capabilities', {
      effective: namesOf(masks.effective),
      permitted: namesOf(masks.permitted),
      inheritable: namesOf(masks.inheritable),
      ambient: namesOf(masks.ambient),
    });
  }
  if (process.noNewPrivileges === true) record('no_new_privs.set', 'change', 'process.noNewPrivileges', {});
  if (container.spec.process?.oomScoreAdj !== undefined) record('oom_score_adj.set', 'change', 'process.oomScoreAdj', { value: container.spec.process.oomScoreAdj });
}

function writeOomScoreAdj(pid: number, adj: number | undefined): void {
  if (adj === undefined) return;
  const path = `/proc/${pid}/oom_score_adj`;
  try {
    writeFileSync(path, String(adj));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).errno;
    if (code === undefined) throw error;
    throw new SyscallError('write', -code, path);
  }
}
