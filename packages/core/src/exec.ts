import type { StdioOptions } from 'node:child_process';
import { ContainerStateError, ErrorCode } from './errors.js';
import type { Container } from './container.js';
import { ExecutorLink } from './executor.js';
import { ExtraFds, type ExtraFdOptions } from './extra-fds.js';
import { PROC_NS_NAMES } from './namespaces.js';
import type { ExitStatus, Syscalls } from './native/syscalls.js';
import { encodePlan } from './plan/encode.js';
import { Plan } from './plan/plan.js';
import { addProcessSteps } from './process.js';
import type { Process } from './spec.js';
import { loadContainer, type StoreContext } from './stored.js';
import { takeListener } from './listener.js';
import { expectBarrier, unexpected } from './sync-errors.js';

export interface ExecOptions extends ExtraFdOptions {
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
  const extraFds = await ExtraFds.open(process, options);
  try {
    const plan = joinPlan(container);
    context.hooks.planExec.call(plan, container, process);
    addProcessSteps(plan, { ...container.spec, process }, { dieWithParent: false, execFifo: undefined, extraFds, console: false });
    return await runJoined(context.syscalls, plan, {
      ...options,
      extraFds,
      onAttach: (pid) => context.hooks.execAttach.promise(container, pid),
      onListener: (pid, pidfd, fd) => takeListener(context.hooks, container, pid, pidfd, fd),
    });
  } finally {
    extraFds.close();
  }
}

/** Returns a plan that joins every namespace of the container's init, user first and mount last. */
function joinPlan(container: Container): Plan {
  const plan = new Plan();
  for (const ns of container.spec.linux?.namespaces ?? []) plan.namespace('core', ns.type, `/proc/${container.pid}/ns/${PROC_NS_NAMES[ns.type]}`);
  return plan;
}

/**
 * Runs a program in the namespaces of a container's init, such as an OCI hook that the
 * runtime-spec runs in the container's namespaces. `input` is written to its stdin; a program
 * still running after `timeoutMs` is killed with SIGKILL. Resolves with its exit status.
 */
export async function runInNamespaces(container: Container, process: Process, options: { input?: string; timeoutMs?: number } = {}): Promise<ExitStatus> {
  const plan = joinPlan(container);
  addProcessSteps(plan, { ...container.spec, process }, { dieWithParent: true, execFifo: undefined });
  let timer: NodeJS.Timeout | undefined;
  try {
    const status = await runJoined(container.syscalls, plan, {
      stdio: ['pipe', 'inherit', 'inherit'],
      onLink: (link) => link.process.stdin?.end(options.input ?? ''),
      onStart: (pidfd) => {
        if (options.timeoutMs !== undefined) timer = setTimeout(() => killQuietly(container.syscalls, pidfd), options.timeoutMs);
      },
    });
    return status!;
  } finally {
    clearTimeout(timer);
  }
}

interface RunOptions extends ExecOptions {
  extraFds?: ExtraFds;
  onLink?: (link: ExecutorLink) => void;
  onAttach?: (pid: number) => Promise<void>;
  onListener?: (pid: number, pidfd: number, fd: number) => Promise<void>;
}

/** Spawns the executor with a plan, takes it through both barriers and waits for its process. */
async function runJoined(syscalls: Syscalls, plan: Plan, options: RunOptions): Promise<ExitStatus | undefined> {
  const steps = plan.steps();
  const link = new ExecutorLink(encodePlan(plan), options.stdio ?? 'inherit', options.extraFds?.stdio);
  options.extraFds?.close();
  options.onLink?.(link);
  let pidfd: number | undefined;
  try {
    const message = await link.next();
    if (message.type !== 'pid') throw unexpected(link, message, 'the new process pid', steps);
    pidfd = syscalls.pidfdOpen(message.pid);
    await expectBarrier(link, 'attach', steps);
    await options.onAttach?.(message.pid);
    link.release('attach');
    const pid = message.pid;
    const listenerPidfd = pidfd;
    await expectBarrier(link, 'start', steps, options.onListener === undefined ? undefined : (fd) => options.onListener!(pid, listenerPidfd, fd));
    link.release('start');
    const done = await link.next();
    if (done.type !== 'eof') throw unexpected(link, done, 'execve', steps);
    options.onStart?.(pidfd, message.pid);
    return options.detach === true ? undefined : await syscalls.waitid(pidfd);
  } catch (error) {
    if (pidfd !== undefined) {
      killQuietly(syscalls, pidfd);
      await syscalls.waitid(pidfd).catch(() => undefined);
    }
    throw error;
  } finally {
    link.close();
    if (pidfd !== undefined) syscalls.close(pidfd);
  }
}

function killQuietly(syscalls: Syscalls, pidfd: number): void {
  try {
    syscalls.pidfdSendSignal(pidfd, 9);
  } catch {
    // Already exited.
  }
}
