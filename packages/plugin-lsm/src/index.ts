import { inheritFromInit, SpecError, type Container, type Plan, type Plugin, type Process, type Step } from '@bulkhead/core';
import { appArmorExecAttr, SECURITYFS } from './kernel.js';
import { mountLabelProblems, procMountProblems, processLabelProblems } from './validate.js';

export { appArmorExecAttr, lsmEnabled, readAppArmorProfiles, readLsmStatus, SECURITYFS, type LsmName, type LsmStatus } from './kernel.js';
export { APPARMOR_UNCONFINED } from './validate.js';

export const PLUGIN_NAME = '@bulkhead/plugin-lsm';

/** SELinux's file for the label of the next execve; AppArmor uses it too on kernels without attr/apparmor. */
const SELINUX_EXEC_ATTR = '/proc/self/attr/exec';

/** The filesystems the runtime mounts for a container that take linux.mountLabel as a context= option. */
export const LABELED_FILESYSTEMS: readonly string[] = ['tmpfs', 'mqueue', 'devpts'];

export interface LsmPluginOptions {
  /** The securityfs mount point. Tests pass a directory laid out the same way. */
  securityfs?: string;
  /** The host's procfs, which tells which AppArmor exec file the kernel has. */
  proc?: string;
}

/**
 * Linux security module labels: `process.apparmorProfile` and `process.selinuxLabel` for the
 * container's process and for `exec`, and `linux.mountLabel` for its mounts. A spec that asks
 * for an LSM the running kernel does not have, or for an AppArmor profile that is not loaded, is
 * rejected in validation.
 *
 * | what | how | when |
 * | ---- | --- | ---- |
 * | AppArmor profile | writes "exec PROFILE" to /proc/self/attr/apparmor/exec (/proc/self/attr/exec on older kernels) | privileges phase, after capabilities, no_new_privs and the init's fork; applies at execve |
 * | SELinux label | writes the label to /proc/self/attr/exec | same |
 * | SELinux mount label | adds `context="LABEL"` to the data of every tmpfs, mqueue and devpts mount in the plan | when the plan is built |
 *
 * The process labels are written through the container's own /proc after pivot_root, so the
 * spec must mount one. The mount label is added to steps other plugins planned, so this plugin
 * must be used after the mount plugin. The optional init that the pid plugin forks never execs,
 * so it keeps the runtime's own label; only the container's program gets the profile.
 */
export function lsmPlugin(options: LsmPluginOptions = {}): Plugin {
  const securityfs = options.securityfs ?? SECURITYFS;
  const proc = options.proc ?? '/proc';
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { fields: ['process.apparmorProfile', 'process.selinuxLabel', 'linux.mountLabel'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => {
        const { spec } = validation;
        for (const problem of [...processLabelProblems(spec.process, 'process', securityfs), ...mountLabelProblems(spec, securityfs), ...procMountProblems(spec)]) {
          validation.problem(problem.path, problem.message);
        }
      });
      hooks.plan.tap((plan, container) => {
        planProcessLabels(plan, container.spec.process, proc);
        labelMounts(plan, container);
      });
      hooks.created.tap((container) => auditLabels(container, container.spec.process, { process: 'init', pid: container.pid! }));
      hooks.planExec.tap((plan, container, process) => {
        const labels = execLabels(container, process);
        // An exec process is not validated with the container's spec, so its own labels are checked here.
        const problems = processLabelProblems(labels, 'process', securityfs);
        if (problems.length > 0) throw new SpecError(problems);
        planProcessLabels(plan, labels, proc);
        auditLabels(container, labels, { process: 'exec' });
      });
    },
  };
}

/** Returns the labels of a process that exec starts: its own, or the container's where it sets none, as runc does. */
export function execLabels(container: Container, process: Process): Process {
  return inheritFromInit(container, process, ['apparmorProfile', 'selinuxLabel']);
}

/** Adds the writes that give the process its labels at execve, in the privileges phase (see the table above). */
function planProcessLabels(plan: Plan, process: Process | undefined, proc: string): void {
  if (process?.apparmorProfile) {
    plan.add(PLUGIN_NAME, 'privileges', { op: 'write-file', target: { path: appArmorExecAttr(proc) }, data: `exec ${process.apparmorProfile}` });
  }
  if (process?.selinuxLabel) plan.add(PLUGIN_NAME, 'privileges', { op: 'write-file', target: { path: SELINUX_EXEC_ATTR }, data: process.selinuxLabel });
}

/**
 * Adds `context="LABEL"` to every tmpfs, mqueue and devpts mount in the plan, unless the mount
 * already names a context. Fails when the spec mounts such a filesystem and the plan has none,
 * which means this plugin runs before the plugin that plans the mounts.
 */
function labelMounts(plan: Plan, container: Container): void {
  const label = container.spec.linux?.mountLabel;
  if (!label) return;
  let labeled = 0;
  for (const planned of plan.steps()) {
    const step = planned.step;
    if (step.op !== 'mount' || step.fstype === null || !LABELED_FILESYSTEMS.includes(step.fstype)) continue;
    planned.step = withContext(step, label);
    labeled += 1;
  }
  const requested = (container.spec.mounts ?? []).some((mount) => mount.type !== undefined && LABELED_FILESYSTEMS.includes(mount.type));
  if (requested && labeled === 0) {
    throw new SpecError([{ path: 'linux.mountLabel', message: `the plan has no tmpfs, mqueue or devpts mount to label: use ${PLUGIN_NAME} after the plugin that mounts them` }]);
  }
}

function withContext(step: Extract<Step, { op: 'mount' }>, label: string): Step {
  const options = step.data === null || step.data === '' ? [] : [step.data];
  if (options.some((data) => /(^|,)context=/.test(data))) return step;
  return { ...step, data: [...options, `context="${label}"`].join(',') };
}

/** Records each label as an audit event with decision "change". */
function auditLabels(container: Container, process: Process | undefined, target: { process: 'init' | 'exec'; pid?: number }): void {
  const record = (action: string, field: string, detail: Record<string, unknown>) => container.audit({ plugin: PLUGIN_NAME, decision: 'change', action, field, ...target, detail });
  if (process?.apparmorProfile) record('apparmor.profile.set', 'process.apparmorProfile', { profile: process.apparmorProfile });
  if (process?.selinuxLabel) record('selinux.label.set', 'process.selinuxLabel', { label: process.selinuxLabel });
  const mountLabel = container.spec.linux?.mountLabel;
  if (target.process === 'init' && mountLabel) record('selinux.mount_label.set', 'linux.mountLabel', { label: mountLabel });
}
