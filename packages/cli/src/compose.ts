import { Runtime, type Logger, type Syscalls } from '@bulkhead/core';
import { cgroupPlugin } from '@bulkhead/plugin-cgroup';
import { hooksPlugin } from '@bulkhead/plugin-hooks';
import { ipcPlugin } from '@bulkhead/plugin-ipc';
import { mountPlugin } from '@bulkhead/plugin-mount';
import { pidPlugin } from '@bulkhead/plugin-pid';
import { rlimitPlugin } from '@bulkhead/plugin-rlimit';
import { sysctlPlugin } from '@bulkhead/plugin-sysctl';
import { seccompPlugin } from '@bulkhead/plugin-seccomp';
import { utsPlugin } from '@bulkhead/plugin-uts';

export interface ComposeOptions {
  stateRoot?: string;
  logger?: Logger;
  /** Run a minimal init as PID 1 instead of the command. */
  init?: boolean;
  /** The syscall layer; tests pass a recording fake. */
  syscalls?: Syscalls;
}

/** The reference runtime: the core with the standard plugins. */
export function createRuntime(options: ComposeOptions = {}): Runtime {
  const runtime = new Runtime({
    ...(options.stateRoot === undefined ? {} : { stateRoot: options.stateRoot }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.syscalls === undefined ? {} : { syscalls: options.syscalls }),
  });
  return runtime
    .use(pidPlugin({ init: options.init ?? false }))
    .use(mountPlugin())
    .use(utsPlugin())
    .use(ipcPlugin())
    .use(cgroupPlugin())
    .use(rlimitPlugin())
    .use(sysctlPlugin())
    .use(seccompPlugin())
    .use(hooksPlugin());
}
