import { constants } from 'node:os';
import { exitCodeOf, type ContainerHandle } from '@bulkhead/core';
import { createRuntime } from '../compose.js';
import { defaultSpec } from '../default-spec.js';
import { parseContainerFlags, type ContainerFlags } from '../flags.js';
import { applyResourceFlags } from '../resources.js';
import type { GlobalFlags } from '../main.js';

/** Signals that `run` passes on to the container process. */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

/** `bulkhead run`: runs a command in a new container and returns its exit code (128+N for signal N). */
export async function runCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const flags = parseContainerFlags(argv);
  const runtime = createRuntime({ ...globals.runtime, init: flags.init });
  const forwarder = new SignalForwarder();
  try {
    const status = await runtime.run(specFromFlags(flags), { ...(flags.id === undefined ? {} : { id: flags.id }), onStart: (handle) => forwarder.attach(handle) });
    return exitCodeOf(status);
  } finally {
    forwarder.detach();
  }
}

export function specFromFlags(flags: ContainerFlags) {
  const spec = defaultSpec({
    args: flags.args,
    env: flags.env,
    readonly: flags.readOnly,
    ...(flags.rootfs === undefined ? {} : { rootfs: flags.rootfs }),
    ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
    ...(flags.cwd === undefined ? {} : { cwd: flags.cwd }),
  });
  applyResourceFlags(spec, flags);
  if (flags.cgroupns) spec.linux!.namespaces!.push({ type: 'cgroup' });
  return spec;
}

/**
 * Passes the signals bulkhead receives to the container process. A signal that arrives before
 * the container started is held and delivered once it has.
 */
class SignalForwarder {
  private handle: ContainerHandle | undefined;
  private readonly pending: number[] = [];
  private readonly listeners = FORWARDED_SIGNALS.map((name) => {
    const listener = () => this.forward(constants.signals[name]);
    process.on(name, listener);
    return { name, listener };
  });

  attach(handle: ContainerHandle): void {
    this.handle = handle;
    for (const signal of this.pending.splice(0)) this.forward(signal);
  }

  detach(): void {
    for (const { name, listener } of this.listeners) process.off(name, listener);
  }

  private forward(signal: number): void {
    if (this.handle === undefined) {
      this.pending.push(signal);
      return;
    }
    try {
      this.handle.kill(signal);
    } catch {
      // The container already exited; its exit status is on its way.
    }
  }
}
