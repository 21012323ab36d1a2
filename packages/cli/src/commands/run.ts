import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { exitCodeOf, libc, type ContainerHandle, type ContainerSpec, type CreateOptions, type Runtime } from '@bulkhead/core';
import { applyLevel } from '@bulkhead/policy';
import { parseCommand } from '../args.js';
import { CREATE_FLAGS, createOptions, readBundle, writePidFileOrDelete } from './lifecycle.js';
import { createRuntime } from '../compose.js';
import { defaultSpec } from '../default-spec.js';
import { parseContainerFlags, type ContainerFlags } from '../flags.js';
import { applyNetworkFlags, startIntrusionWatch } from '../network.js';
import { applyResourceFlags } from '../resources.js';
import { makeRootless } from '../rootless.js';
import { applySeccompFlag } from '../seccomp.js';
import { mountOptionsFromFlags } from '../mount-flags.js';
import type { GlobalFlags } from '../main.js';
import { ADJUST_ANNOTATION, adjustOptionsOf, parseAdjust, startAdjust } from '../adjust.js';

/** Signals that `run` passes on to the container process. */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

/** Flags that only runc's form of `run` takes: any of them selects it. */
const OCI_RUN_FLAGS = /^(-b|--bundle|-d|--detach|--pid-file|--console-socket|--no-pivot|--preserve-fds)(=|$)/;

/**
 * `bulkhead run`: runs a command in a new container and returns its exit code (128+N for signal
 * N). runc's form, `run [--bundle DIR] [-d] ID`, runs an OCI bundle instead: it is chosen by its
 * flags, or by a lone argument with a config.json in the working directory.
 */
export async function runCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  if (isOciRun(argv)) return ociRunCommand(argv, globals);
  const flags = parseContainerFlags(argv);
  const runtime = createRuntime({ ...globals.runtime, init: flags.init, mount: mountOptionsFromFlags(flags, globals.runtime.mount) });
  const spec = specFromFlags(flags);
  return runAndWait(runtime, spec, flags.id === undefined ? {} : { id: flags.id });
}

/**
 * Runs a container in the foreground, forwarding signals, with pressure-driven adjustment when its
 * annotation requests it, and the intrusion watcher when its firewall has detectors.
 */
async function runAndWait(runtime: Runtime, spec: ContainerSpec, options: CreateOptions): Promise<number> {
  const adjust = adjustOptionsOf(spec);
  const forwarder = new SignalForwarder();
  let stopAdjust = () => {};
  let stopWatch = async () => {};
  try {
    const onStart = (handle: ContainerHandle) => {
      forwarder.attach(handle);
      if (adjust !== undefined) stopAdjust = startAdjust(handle, adjust);
      stopWatch = startIntrusionWatch(handle.container);
    };
    return exitCodeOf(await runtime.run(spec, { ...options, onStart }));
  } finally {
    stopAdjust();
    await stopWatch();
    forwarder.detach();
  }
}

export function specFromFlags(flags: ContainerFlags) {
  const spec = defaultSpec({
    args: flags.args,
    env: flags.env,
    readonly: flags.readOnly,
    ...(flags.rootfs === undefined ? {} : { rootfs: flags.rootfs }),
    ...(flags.image === undefined ? {} : { rootfs: flags.image }),
    ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
    ...(flags.cwd === undefined ? {} : { cwd: flags.cwd }),
  });
  // The caller's own terminal is passed through as stdio: there is no console socket here.
  if (flags.tty) spec.process!.terminal = true;
  applyResourceFlags(spec, flags);
  applyNetworkFlags(spec, flags);
  if (flags.cgroupns) spec.linux!.namespaces!.push({ type: 'cgroup' });
  if (flags.adjust.length > 0) {
    // Parsed here as well, so that an error names the flag rather than the annotation it becomes.
    parseAdjust('--adjust', flags.adjust.join(','));
    spec.annotations = { ...spec.annotations, [ADJUST_ANNOTATION]: flags.adjust.join(',') };
  }
  applySeccompFlag(spec, flags.seccomp);
  if (process.geteuid!() !== 0) makeRootless(spec);
  return flags.level === undefined ? spec : applyLevel(spec, flags.level, { allowPrivileged: flags.allowPrivileged, allowNested: flags.allowNested });
}

/**
 * Passes the signals bulkhead receives to the container process. A signal that arrives before
 * the container started is held and delivered once it has.
 */
export class SignalForwarder {
  private handle: Pick<ContainerHandle, 'kill'> | undefined;
  private readonly pending: number[] = [];
  private readonly listeners = FORWARDED_SIGNALS.map((name) => {
    const listener = () => this.forward(constants.signals[name]);
    process.on(name, listener);
    return { name, listener };
  });

  attach(handle: Pick<ContainerHandle, 'kill'>): void {
    this.handle = handle;
    for (const signal of this.pending.splice(0)) this.forward(signal);
  }

  /** Forwards to a process known only by its pidfd, such as one started by exec. */
  attachPidfd(pidfd: number): void {
    this.attach({ kill: (signal) => libc.pidfdSendSignal(pidfd, signal) });
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

function isOciRun(argv: readonly string[]): boolean {
  if (argv.includes('--')) return false;
  if (argv.some((word) => OCI_RUN_FLAGS.test(word))) return true;
  return argv.length === 1 && !argv[0]!.startsWith('-') && existsSync('config.json');
}

/** runc's `run`: create and start a bundle's container; wait for it unless --detach. */
async function ociRunCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('run', argv, { bundle: { type: 'string', short: 'b' }, detach: { type: 'boolean', short: 'd' }, 'pid-file': { type: 'string' }, ...CREATE_FLAGS, 'no-new-keyring': { type: 'boolean' } }, { min: 1, max: 1, names: 'ID' });
  const bundle = resolve(values.bundle ?? '.');
  const spec = readBundle(bundle, globals);
  const runtime = createRuntime(globals.runtime);
  const id = positionals[0]!;
  const options = createOptions(values);
  if (values.detach === true) {
    const handle = await runtime.create(spec, { id, bundle, detach: true, ...options });
    if (values['pid-file'] !== undefined) await writePidFileOrDelete(runtime, id, values['pid-file'], handle.pid);
    await runtime.start(id);
    return 0;
  }
  return runAndWait(runtime, spec, { id, bundle, ...options });
}
