import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { BulkheadError, ErrorCode, exitCodeOf, runInNamespaces, type Container, type ContainerStatus, type ExitStatus, type Hook, type Plugin, type ValidationContext } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-hooks';

type HookPoint = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

/**
 * Where and when each OCI hook point runs: the namespaces it runs in, the status its state
 * document says, and whether a failure aborts the operation (the runtime-spec asks only for a
 * warning from poststart and poststop).
 */
const POINTS: Record<HookPoint, { inContainer: boolean; status: ContainerStatus; fatal: boolean }> = {
  prestart: { inContainer: false, status: 'created', fatal: true },
  createRuntime: { inContainer: false, status: 'created', fatal: true },
  createContainer: { inContainer: true, status: 'created', fatal: true },
  startContainer: { inContainer: true, status: 'created', fatal: true },
  poststart: { inContainer: false, status: 'running', fatal: false },
  poststop: { inContainer: false, status: 'stopped', fatal: false },
};

/**
 * Runs the spec's OCI hooks: each hook's program gets the container's state JSON on stdin,
 * runs in the runtime's namespaces or, for createContainer and startContainer, in the
 * container's, and is killed after its timeout.
 *
 * NOTE: a hook run in the container's namespaces gets its path as argv[0]; the args[0] of the
 * spec is not passed there.
 */
export function hooksPlugin(): Plugin {
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { fields: ['hooks'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateHooks(validation));
      for (const point of Object.keys(POINTS) as HookPoint[]) {
        hooks[point].tapPromise((container) => runPoint(container, point));
      }
    },
  };
}

function validateHooks(validation: ValidationContext): void {
  for (const point of Object.keys(POINTS) as HookPoint[]) {
    (validation.spec.hooks?.[point] ?? []).forEach((hook, i) => {
      const path = `hooks.${point}[${i}]`;
      if (!hook.path.startsWith('/')) validation.problem(`${path}.path`, 'must be an absolute path');
      if (hook.timeout !== undefined && hook.timeout <= 0) validation.problem(`${path}.timeout`, 'must be a positive number of seconds');
    });
  }
}

async function runPoint(container: Container, point: HookPoint): Promise<void> {
  const { inContainer, status, fatal } = POINTS[point];
  const state = JSON.stringify({ ...container.state(), status, pid: container.pid });
  for (const [i, hook] of (container.spec.hooks?.[point] ?? []).entries()) {
    const exit = inContainer ? await runInNamespaces(container, { args: [hook.path, ...(hook.args ?? []).slice(1)], env: hook.env ?? [], cwd: '/' }, { input: state, ...timeout(hook) }) : await runOnHost(hook, state);
    if (exit.exited && exit.code === 0) continue;
    const message = `${point} hook ${i} (${hook.path}) ${describeExit(exit, hook)}`;
    if (fatal) throw new BulkheadError(ErrorCode.HOOK_FAILED, message);
    container.log.warn({ hook: point, index: i, path: hook.path }, message);
  }
}

function timeout(hook: Hook): { timeoutMs?: number } {
  return hook.timeout === undefined ? {} : { timeoutMs: hook.timeout * 1000 };
}

function describeExit(exit: ExitStatus, hook: Hook): string {
  if (!exit.exited && exit.signal === 9 && hook.timeout !== undefined) return `timed out after ${hook.timeout} s`;
  return exit.exited ? `failed with exit status ${exit.code}` : `was killed by signal ${exitCodeOf(exit) - 128}`;
}

/** Runs a hook in the runtime's namespaces, with its own environment only, as the runtime-spec says. */
function runOnHost(hook: Hook, state: string): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    const [argv0, ...args] = hook.args ?? [hook.path];
    const child = spawn(hook.path, args, { argv0: argv0 ?? hook.path, env: Object.fromEntries((hook.env ?? []).map((entry) => splitEnv(entry))), stdio: ['pipe', 'inherit', 'inherit'] });
    const timer = hook.timeout === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), hook.timeout * 1000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new BulkheadError(ErrorCode.HOOK_FAILED, `run hook ${hook.path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal === null ? { exited: true, code: code ?? 0 } : { exited: false, signal: signalNumber(signal), coreDumped: false });
    });
    child.stdin.on('error', () => {}); // A hook that does not read its stdin closes the pipe early.
    child.stdin.end(state);
  });
}

function splitEnv(entry: string): [string, string] {
  const equals = entry.indexOf('=');
  return [entry.slice(0, equals), entry.slice(equals + 1)];
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal];
}
