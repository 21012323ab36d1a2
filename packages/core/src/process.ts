import type { ExtraFds } from './extra-fds.js';
import type { Plan } from './plan/plan.js';
import type { ContainerSpec } from './spec.js';

const CORE = 'core';
const PR_SET_PDEATHSIG = 1;
const SIGKILL = 9;

/**
 * Appends the steps that turn the child into the spec's process: its user and groups, its umask,
 * its working directory, and finally execve. The executor searches a bare command name in the
 * PATH of `process.env`, as runc does.
 */
export function addProcessSteps(plan: Plan, spec: ContainerSpec, options: ProcessStepOptions): void {
  // A detached container waits here, after the start barrier, until `start` opens the FIFO. It
  // waits even without a process, so that it stays created until it is deleted.
  if (options.execFifo !== undefined) plan.add(CORE, 'exec', { op: 'wait-fifo', slot: options.execFifo });
  const process = spec.process;
  if (process === undefined) return;

  // The pty comes from the container's own /dev/ptmx, so after pivot_root (the pivot phase's
  // plugin steps are planned before this), and before the identity change, because chown and
  // the /dev/console bind mount need privileges.
  const terminal = options.extraFds?.terminalStep(process, { console: options.console ?? true });
  if (terminal !== undefined) plan.add(CORE, 'pivot', terminal);
  const user = process.user;
  // Supplementary groups are always set, to exactly additionalGids, so that the runtime's own
  // groups never reach the container. Ids are numbers only: nothing here looks a name up in an
  // /etc/group, which is why a group the container's /etc/group lists for the user is not added.
  // With setgroups denied, the user namespace plugin rejects additionalGids during validation.
  if (!plan.setgroupsDenied) plan.add(CORE, 'identity', { op: 'setgroups', gids: user?.additionalGids ?? [] });
  if (user !== undefined) {
    plan.add(CORE, 'identity', { op: 'setresgid', gid: user.gid });
    plan.add(CORE, 'identity', { op: 'setresuid', uid: user.uid });
  }
  if (user?.umask !== undefined) plan.add(CORE, 'identity', { op: 'umask', mask: user.umask });

  // chdir after the identity change, so that the user's own permissions decide whether it may enter cwd.
  plan.add(CORE, 'identity', { op: 'chdir', path: process.cwd });

  // After setresuid, which clears the parent-death signal, and before the optional init forks,
  // so that it is the init, PID 1, that dies and takes the namespace's processes with it.
  if (options.dieWithParent) plan.add(CORE, 'identity', { op: 'prctl', option: PR_SET_PDEATHSIG, args: [SIGKILL, 0, 0, 0] });

  // Last before execve: fd 3 is the sync socket until this step moves it.
  const preserve = options.extraFds?.preserveStep();
  if (preserve !== undefined) plan.add(CORE, 'exec', preserve);
  plan.add(CORE, 'exec', { op: 'exec', file: process.args[0]!, argv: process.args, envp: process.env ?? [] });
}

export interface ProcessStepOptions {
  dieWithParent: boolean;
  execFifo: string | undefined;
  /** The console socket and preserved fds the executor receives. */
  extraFds?: ExtraFds;
  /** Bind the pty onto /dev/console, as for a container's first process. Default true. */
  console?: boolean;
}
