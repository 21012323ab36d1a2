import type { Container } from './container.js';
import type { Hooks } from './hooks.js';

/**
 * Copies a seccomp listener fd out of a container process with pidfd_getfd(2) and gives it to
 * the seccompListener taps. The copy is closed afterwards: a tap that keeps the listener passes
 * it on (to an agent) before it returns.
 */
export async function takeListener(hooks: Hooks, container: Container, pid: number, pidfd: number, fd: number): Promise<void> {
  const local = container.syscalls.pidfdGetfd(pidfd, fd);
  try {
    await hooks.seccompListener.promise(container, { fd: local, pid });
  } finally {
    container.syscalls.close(local);
  }
}
