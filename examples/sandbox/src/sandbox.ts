import { Runtime, type ContainerSpec } from '@bulkhead/core';
import { defaultSpec } from '@bulkhead/cli';
import { applyLevel } from '@bulkhead/policy';
import { capabilitiesPlugin } from '@bulkhead/plugin-capabilities';
import { cgroupPlugin } from '@bulkhead/plugin-cgroup';
import { ipcPlugin } from '@bulkhead/plugin-ipc';
import { mountPlugin } from '@bulkhead/plugin-mount';
import { netPlugin } from '@bulkhead/plugin-net';
import { pidPlugin } from '@bulkhead/plugin-pid';
import { seccompPlugin } from '@bulkhead/plugin-seccomp';
import { utsPlugin } from '@bulkhead/plugin-uts';

/** Builds a runtime for untrusted programs from the plugins it needs, and no others. */
export function sandboxRuntime(stateRoot?: string): Runtime {
  return new Runtime(stateRoot === undefined ? {} : { stateRoot })
    .use(capabilitiesPlugin()).use(pidPlugin()).use(mountPlugin()).use(ipcPlugin()).use(utsPlugin())
    .use(netPlugin()).use(cgroupPlugin()).use(seccompPlugin());
}

/** Returns the spec of one sandboxed run: STRICT level, own empty network, 256 MiB, 1 CPU. */
export function sandboxSpec(rootfs: string, args: string[]): ContainerSpec {
  // STRICT: no capabilities, the default seccomp profile, no_new_privs, a read-only root.
  const spec = applyLevel(defaultSpec({ args, rootfs }), 'strict');
  // The network namespace of defaultSpec has only a loopback device: no way out.
  spec.linux!.resources = { memory: { limit: 256 * 1024 * 1024, swap: 256 * 1024 * 1024 }, cpu: { quota: 100_000, period: 100_000 }, pids: { limit: 256 } };
  return spec;
}
