import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';

/**
 * Stable error codes. A code never changes meaning once released; callers branch on it instead of
 * parsing messages.
 */
export const ErrorCode = Object.freeze({
  /** The container spec is invalid; `problems` lists every field at fault. */
  SPEC_INVALID: 'BULKHEAD_SPEC_INVALID',
  /** Two plugins claim the same namespace or spec field. */
  PLUGIN_CONFLICT: 'BULKHEAD_PLUGIN_CONFLICT',
  /** A plugin does not support this core version, or is malformed. */
  PLUGIN_INVALID: 'BULKHEAD_PLUGIN_INVALID',
  /** A step of the child program failed inside the executor. */
  STEP_FAILED: 'BULKHEAD_STEP_FAILED',
  /** A plugin's tap threw while a hook ran. */
  HOOK_FAILED: 'BULKHEAD_HOOK_FAILED',
  /** A parent-side syscall failed. */
  SYSCALL_FAILED: 'BULKHEAD_SYSCALL_FAILED',
  /** The executor broke the sync protocol or died unexpectedly. */
  EXECUTOR_FAILED: 'BULKHEAD_EXECUTOR_FAILED',
  /** A container with this id already exists. */
  CONTAINER_EXISTS: 'BULKHEAD_CONTAINER_EXISTS',
  /** No container with this id exists. */
  CONTAINER_NOT_FOUND: 'BULKHEAD_CONTAINER_NOT_FOUND',
  /** The operation is not allowed in the container's current status. */
  INVALID_STATE: 'BULKHEAD_INVALID_STATE',
  /** The command line is invalid. */
  USAGE: 'BULKHEAD_USAGE',
} as const);

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Returns the errno's symbolic name, such as ENOENT. libuv's table, behind getSystemErrorName,
 * lacks a few errnos that only syscalls return (ECHILD among them); os.constants.errno has them.
 */
export function errnoName(errno: number): string {
  const value = Math.abs(errno);
  try {
    const name = getSystemErrorName(-value);
    if (!name.startsWith('Unknown')) return name;
  } catch {
    // Not a valid errno for libuv; fall through to the kernel's table.
  }
  const match = Object.entries(constants.errno).find(([, number]) => number === value);
  return match === undefined ? `errno ${value}` : match[0];
}

/**
 * Base of every error that bulkhead raises on purpose. `expected` is true for failures that a
 * caller can cause and handle, such as bad input, a missing file or a kernel that rejects a call.
 * It is false for a bug in bulkhead or a plugin.
 */
export class BulkheadError extends Error {
  readonly code: ErrorCodeValue;
  readonly expected: boolean;

  constructor(code: ErrorCodeValue, message: string, options: { cause?: unknown; expected?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.expected = options.expected ?? true;
  }
}

/** One invalid field of a spec, named by its JSON path ("process.args[0]"). */
export interface SpecProblem {
  path: string;
  message: string;
}

export class SpecError extends BulkheadError {
  readonly problems: readonly SpecProblem[];

  constructor(problems: readonly SpecProblem[]) {
    super(ErrorCode.SPEC_INVALID, problems.map((p) => `${p.path}: ${p.message}`).join('; '));
    this.problems = problems;
  }
}

export class PluginConflictError extends BulkheadError {
  constructor(
    readonly claim: string,
    readonly plugins: readonly [string, string],
  ) {
    super(ErrorCode.PLUGIN_CONFLICT, `plugins ${plugins[0]} and ${plugins[1]} both claim ${claim}`, { expected: false });
  }
}

export class PluginInvalidError extends BulkheadError {
  constructor(
    readonly plugin: string,
    reason: string,
  ) {
    super(ErrorCode.PLUGIN_INVALID, `plugin ${plugin}: ${reason}`, { expected: false });
  }
}

/** A parent-side syscall failure: names the syscall, its object and the errno. */
export class SyscallError extends BulkheadError {
  readonly syscall: string;
  readonly errno: number;
  readonly errnoName: string;
  readonly path: string | undefined;

  /** `detail` is the kernel's own explanation where it gives one, such as the reason the BPF verifier gives. */
  constructor(syscall: string, errno: number, path?: string, detail?: string) {
    const name = errnoName(errno);
    const message = path === undefined ? `${syscall}: ${name}` : `${syscall} ${path}: ${name}`;
    super(ErrorCode.SYSCALL_FAILED, detail === undefined ? message : `${message}: ${detail}`);
    this.syscall = syscall;
    this.errno = errno;
    this.errnoName = name;
    this.path = path;
  }
}

/** A failure of one child-side step, reported by the executor. */
export class StepError extends BulkheadError {
  readonly plugin: string;
  readonly index: number;
  readonly op: string;
  readonly errno: number;
  readonly errnoName: string;

  constructor(step: { plugin: string; index: number; op: string; summary: string; hint?: string }, errno: number) {
    const name = errnoName(errno);
    const hint = step.hint === undefined ? '' : `: ${step.hint}`;
    super(ErrorCode.STEP_FAILED, `${step.summary} (step ${step.index}, plugin ${step.plugin}): ${name}${hint}`);
    this.plugin = step.plugin;
    this.index = step.index;
    this.op = step.op;
    this.errno = errno;
    this.errnoName = name;
  }
}

/**
 * A tap that threw while a hook ran. The core wraps once, at the hook boundary: an error that is
 * already a BulkheadError keeps its code and only gains the hook and plugin in front.
 */
export class HookError extends BulkheadError {
  readonly hook: string;
  readonly plugin: string;

  constructor(hook: string, plugin: string, cause: unknown) {
    const inner = cause instanceof Error ? cause.message : String(cause);
    const expected = cause instanceof BulkheadError ? cause.expected : false;
    super(ErrorCode.HOOK_FAILED, `${hook} hook of plugin ${plugin}: ${inner}`, { cause, expected });
    this.hook = hook;
    this.plugin = plugin;
  }
}

export class ExecutorError extends BulkheadError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.EXECUTOR_FAILED, message, { ...options, expected: false });
  }
}

export class ContainerStateError extends BulkheadError {}

/** Marks `cleanupErrors` on an error: undo failures are attached beside the original error. */
export function attachCleanupErrors(error: unknown, cleanupErrors: readonly unknown[]): void {
  if (cleanupErrors.length > 0 && error !== null && typeof error === 'object') {
    Object.defineProperty(error, 'cleanupErrors', { value: cleanupErrors, enumerable: false });
  }
}
