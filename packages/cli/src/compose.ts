import { dirname, join } from 'node:path';
import { Runtime, type Logger, type Syscalls } from '@bulkhead/core';
import { capabilitiesPlugin } from '@bulkhead/plugin-capabilities';
import { cgroupPlugin } from '@bulkhead/plugin-cgroup';
import { hooksPlugin } from '@bulkhead/plugin-hooks';
import { ipcPlugin } from '@bulkhead/plugin-ipc';
import { lsmPlugin } from '@bulkhead/plugin-lsm';
import { mountPlugin, type MountPluginOptions } from '@bulkhead/plugin-mount';
import { netPlugin } from '@bulkhead/plugin-net';
import { pidPlugin } from '@bulkhead/plugin-pid';
import { rlimitPlugin } from '@bulkhead/plugin-rlimit';
import { sysctlPlugin } from '@bulkhead/plugin-sysctl';
import { seccompPlugin } from '@bulkhead/plugin-seccomp';
import { timePlugin } from '@bulkhead/plugin-time';
import { userPlugin } from '@bulkhead/plugin-user';
import { utsPlugin } from '@bulkhead/plugin-uts';

export interface ComposeOptions {
  stateRoot?: string;
  logger?: Logger;
  /** Run a minimal init as PID 1 instead of the command. */
  init?: boolean;
  /** The mount plugin's policy, overlay root and /etc files. */
  mount?: MountPluginOptions;
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
  // The user plugin comes first, so that its attach tap writes the maps before any other tap acts
  // on the child. The time plugin comes before the mount plugin: with a user namespace, its steps
  // write /proc/self/timens_offsets while the host's /proc is still mounted. The capabilities
  // plugin comes before the pid plugin: both add steps to the privileges phase, and the optional
  // init must fork after the container's privileges are set. The LSM plugin comes after the mount
  // plugin, whose tmpfs, mqueue and devpts mounts it labels, and after the pid plugin, so that the
  // exec label is written by the process that execs rather than by the optional init.
  return runtime
    .use(userPlugin())
    .use(timePlugin())
    .use(capabilitiesPlugin())
    .use(pidPlugin({ init: options.init ?? false }))
    .use(mountPlugin(options.mount))
    .use(utsPlugin())
    .use(ipcPlugin())
    .use(netPlugin())
    .use(cgroupPlugin())
    .use(rlimitPlugin())
    .use(sysctlPlugin())
    .use(lsmPlugin())
    .use(seccompPlugin({ cacheDir: seccompCacheDir(runtime.stateRoot) }))
    .use(hooksPlugin());
}

/**
 * Returns where compiled seccomp programs are kept: next to the state root rather than in it,
 * because everything in the state root is a container. /run/bulkhead-seccomp-cache by default.
 */
export function seccompCacheDir(stateRoot: string): string {
  return join(dirname(stateRoot), 'bulkhead-seccomp-cache');
}
