import type { StdioOptions } from 'node:child_process';
import { ContainerStateError, ErrorCode } from './errors.js';
import { ExecutorLink } from './executor.js';
import { PROC_NS_NAMES } from './namespaces.js';
import type { ExitStatus } from './native/syscalls.js';
import { encodePlan } from './plan/encode.js';
import { Plan } from './plan/plan.js';
import { addProcessSteps } from './process.js';
import type { Process } from './spec.js';
import { loadContainer, type StoreContext } from './stored.js';
import { expectBarrier, unexpected } from './sync-errors.js';

export interface ExecOptions {
  /** fds 0-2 of the new process. Default 'inherit'. */
  stdio?: StdioOptions;
  /** Called with the new process's pidfd and host pid once it runs, for signal forwarding. */
  onStart?: (pidfd: number, pid: number) => void;
  /** Return once the process runs instead of waiting for it; it is then left to the container's init to reap. */
  detach?: boolean;
}

/**
 * Runs another process in a running container: it joins every namespace of the container's
 * init (user first and mount last, as the executor orders joins), is placed by the execAttach
 * taps (its cgroup), gets the steps planExec taps add, and execs. Resolves with its exit status,
 * or with undefined once it runs when `detach` is set.
 */
export async function execInContainer(context: StoreContext, id: string, process: Process, options: ExecOptions = {}): Promise<ExitStatus | undefined> {
  const container = loadContainer(context, id);
  if (container.status !== 'running') throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot exec in container ${id}: it is ${container.status}, not running`);
  const plan = new Plan();
  for (const ns of container.spec.linux?.namespaces ?? []) plan.namespace('core', ns.type, `/proc/${container.pid}/ns/${PROC_NS_NAMES[ns.type]}`);
  context.hooks.planExec.call(plan, container, process);
  addProcessSteps(plan, { ...container.spec, process }, { dieWithParent: false, execFifo: undefined });

  const steps = plan.steps();
  const link = new ExecutorLink(encodePlan(plan), options.stdio ?? 'inherit');
  let pidfd: number | undefined;
  try {
    const message = await link.next();
    if (message.type !== 'pid') throw unexpected(link, message, 'the exec process pid', steps);
    pidfd = context.syscalls.pidfdOpen(message.pid);
    await expectBarrier(link, 'attach', steps);
    await context.hooks.execAttach.promise(container, message.pid);
    link.release('attach');
    await expectBarrier(link, 'start', steps);
    link.release('start');
    const done = await link.next();
    if (done.type !== 'eof') throw unexpected(link, done, 'execve', steps);
    options.onStart?.(pidfd, message.pid);
    return options.detach === true ? undefined : await context.syscalls.waitid(pidfd);
  } catch (error) {
    if (pidfd !== undefined) {
      try {
        context.syscalls.pidfdSendSignal(pidfd, 9);
      } catch {
        // Already exited.
      }
      await context.syscalls.waitid(pidfd).catch(() => undefined);
    }
    throw error;
  } finally {
    link.close();
    if (pidfd !== undefined) context.syscalls.close(pidfd);
  }
}

