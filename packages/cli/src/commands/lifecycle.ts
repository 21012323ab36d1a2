import { constants } from 'node:os';
import { resolve } from 'node:path';
import { fstatSync, renameSync, writeFileSync } from 'node:fs';
import { BulkheadError, ErrorCode, readConfig, SpecError, type ContainerSpec, type CreateOptions, type Runtime } from '@bulkhead/core';
import { parseCommand } from '../args.js';
import { createRuntime } from '../compose.js';
import type { GlobalFlags } from '../main.js';
import { usageError } from '../usage.js';

const string = { type: 'string' } as const;
const boolean = { type: 'boolean' } as const;

/** `bulkhead create`: creates a container from an OCI bundle and exits; it waits until `start`. */
export async function createCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('create', argv, { bundle: { ...string, short: 'b' }, 'pid-file': string, ...CREATE_FLAGS, 'no-new-keyring': boolean }, { min: 1, max: 1, names: 'ID' });
  const runtime = createRuntime(globals.runtime);
  const bundle = resolve(values.bundle ?? '.');
  const spec = readBundle(bundle, globals);
  const id = positionals[0]!;
  const handle = await runtime.create(spec, { id, bundle, detach: true, ...createOptions(values) });
  if (values['pid-file'] !== undefined) await writePidFileOrDelete(runtime, id, values['pid-file'], handle.pid);
  return 0;
}

/** Reads a bundle's config.json for the OCI commands, which, unlike the library, require `root`. */
export function readBundle(bundle: string, globals: GlobalFlags): ContainerSpec {
  const spec = readConfig(bundle, (message) => globals.runtime.logger?.warn({}, message));
  if (spec !== null && typeof spec === 'object' && spec.root === undefined) throw new SpecError([{ path: 'root', message: 'is required: the runtime-spec requires a root filesystem on Linux' }]);
  return spec;
}

/** Writes the pid file; when that fails, the container is deleted, as runc does, and the error names the file. */
export async function writePidFileOrDelete(runtime: Runtime, id: string, path: string, pid: number): Promise<void> {
  try {
    writePidFile(path, pid);
  } catch (error) {
    await runtime.delete(id, { force: true });
    throw new BulkheadError(ErrorCode.USAGE, `write pid file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; the container was deleted`);
  }
}

/** Flags that `create` and runc's form of `run` share. */
export const CREATE_FLAGS = { 'console-socket': string, 'no-pivot': boolean, 'preserve-fds': string } as const;

/** The create options that CREATE_FLAGS ask for. */
export function createOptions(values: { 'console-socket'?: string; 'no-pivot'?: boolean; 'preserve-fds'?: string }): CreateOptions {
  const options: CreateOptions = { noPivotRoot: values['no-pivot'] ?? false, preserveFds: preservedFds(values['preserve-fds']) };
  if (values['console-socket'] !== undefined) options.consoleSocket = resolve(values['console-socket']);
  return options;
}

/**
 * The fds that --preserve-fds N passes on: 3 to 3+N-1 of this process, which the caller opened
 * before starting bulkhead. Each must be open.
 */
export function preservedFds(value: string | undefined): number[] {
  if (value === undefined) return [];
  if (!/^\d+$/.test(value)) throw usageError(`--preserve-fds: expected a number of fds, got ${JSON.stringify(value)}`);
  const fds = Array.from({ length: Number(value) }, (_, i) => 3 + i);
  for (const fd of fds) {
    try {
      fstatSync(fd);
    } catch {
      throw usageError(`--preserve-fds ${value}: fd ${fd} is not open`);
    }
  }
  return fds;
}

/** Writes the pid file the way engines read it: the number without a newline, replaced atomically. */
export function writePidFile(path: string, pid: number): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, String(pid));
  renameSync(temporary, path);
}

/** `bulkhead start`: lets a created container run its process. */
export async function startCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { positionals } = parseCommand('start', argv, {}, { min: 1, max: 1, names: 'ID' });
  await createRuntime(globals.runtime).start(positionals[0]!);
  return 0;
}

/** `bulkhead state`: prints the runtime-spec State of a container as JSON. */
export async function stateCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { positionals } = parseCommand('state', argv, {}, { min: 1, max: 1, names: 'ID' });
  process.stdout.write(JSON.stringify(createRuntime(globals.runtime).state(positionals[0]!), null, 2) + '\n');
  return 0;
}

/** `bulkhead kill`: sends a signal (default SIGTERM) to a container's process, or to all of them. */
export async function killCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('kill', argv, { all: { ...boolean, short: 'a' } }, { min: 1, max: 2, names: 'ID [SIGNAL]' });
  await createRuntime(globals.runtime).kill(positionals[0]!, parseSignal(positionals[1] ?? 'SIGTERM'), { all: values.all ?? false });
  return 0;
}

/** Parses a signal as runc does: a number, or a name with or without the SIG prefix. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const number = Number(text);
    if (number >= 1 && number <= 64) return number;
  }
  const name = (text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`) as keyof typeof constants.signals;
  const number = constants.signals[name];
  if (number === undefined) throw usageError(`invalid signal ${JSON.stringify(text)}: use a name such as SIGTERM or TERM, or a number`);
  return number;
}

/** `bulkhead delete`: removes a stopped or created container; --force kills a running one first. */
export async function deleteCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('delete', argv, { force: { ...boolean, short: 'f' } }, { min: 1, max: 1, names: 'ID' });
  await createRuntime(globals.runtime).delete(positionals[0]!, { force: values.force ?? false });
  return 0;
}

/** `bulkhead pause`: freezes every process of a running container. */
export async function pauseCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { positionals } = parseCommand('pause', argv, {}, { min: 1, max: 1, names: 'ID' });
  await createRuntime(globals.runtime).pause(positionals[0]!);
  return 0;
}

/** `bulkhead resume`: thaws a paused container. */
export async function resumeCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { positionals } = parseCommand('resume', argv, {}, { min: 1, max: 1, names: 'ID' });
  await createRuntime(globals.runtime).resume(positionals[0]!);
  return 0;
}
