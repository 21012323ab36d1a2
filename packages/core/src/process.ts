import type { Plan } from './plan/plan.js';
import type { ContainerSpec } from './spec.js';

const CORE = 'core';

/**
 * Appends the steps that turn the child into the spec's process: its user and groups, its umask,
 * its working directory, and finally execve. The executor searches a bare command name in the
 * PATH of `process.env`, as runc does.
 */
export function addProcessSteps(plan: Plan, spec: ContainerSpec): void {
  const process = spec.process;
  if (process === undefined) return;
  const user = process.user;
  if (user !== undefined) {
    plan.add(CORE, 'identity', { op: 'setgroups', gids: user.additionalGids ?? [] });
    plan.add(CORE, 'identity', { op: 'setresgid', gid: user.gid });
    plan.add(CORE, 'identity', { op: 'setresuid', uid: user.uid });
  }
  if (user?.umask !== undefined) plan.add(CORE, 'identity', { op: 'umask', mask: user.umask });

  // chdir after the identity change, so that the user's own permissions decide whether it may enter cwd.
  plan.add(CORE, 'identity', { op: 'chdir', path: process.cwd });
  plan.add(CORE, 'exec', { op: 'exec', file: process.args[0]!, argv: process.args, envp: process.env ?? [] });
}
