import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { exitCodeOf, type Capabilities, type ExecOptions, type Process } from '@bulkhead/core';
import { createRuntime } from '../compose.js';
import { mergeEnv } from '../default-spec.js';
import { splitFlag } from '../flags.js';
import type { GlobalFlags } from '../main.js';
import { usageError } from '../usage.js';
import { preservedFds, writePidFile } from './lifecycle.js';
import { SignalForwarder } from './run.js';

interface ExecFlags {
  process?: string;
  consoleSocket?: string;
  pidFile?: string;
  preserveFds?: string;
  env: string[];
  cwd?: string;
  user?: string;
  /** Capabilities added to the bounding, effective and permitted sets, as runc's exec --cap does. */
  caps: string[];
  detach: boolean;
  tty: boolean;
  id?: string;
  args: string[];
}

/**
 * `bulkhead exec`: runs another process in a running container, in every namespace and the
 * cgroup of its init, and returns its exit code. The process comes from --process (an OCI
 * process JSON file) or from the command line, which takes the container's environment, working
 * directory and user unless flags replace them.
 */
export async function execCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const flags = parseExecFlags(argv);
  const runtime = createRuntime(globals.runtime);
  const id = flags.id!;
  const process = execProcess(flags, runtime.config(id).process);
  const options: ExecOptions = { detach: flags.detach, preserveFds: preservedFds(flags.preserveFds) };
  if (flags.consoleSocket !== undefined) options.consoleSocket = resolve(flags.consoleSocket);
  const forwarder = new SignalForwarder();
  try {
    const status = await runtime.exec(id, process, {
      ...options,
      onStart: (pidfd, pid) => {
        if (flags.pidFile !== undefined) writePidFile(flags.pidFile, pid);
        forwarder.attachPidfd(pidfd);
      },
    });
    return status === undefined ? 0 : exitCodeOf(status);
  } finally {
    forwarder.detach();
  }
}

function execProcess(flags: ExecFlags, init: Process | undefined): Process {
  const process = baseProcess(flags, init);
  if (flags.caps.length > 0) process.capabilities = addCapabilities(process.capabilities ?? init?.capabilities ?? {}, flags.caps);
  return process;
}

function baseProcess(flags: ExecFlags, init: Process | undefined): Process {
  if (flags.process !== undefined) {
    const process = JSON.parse(readFileSync(flags.process, 'utf8')) as Process;
    // runc's --tty overrides the file's terminal field, as it does here.
    if (flags.tty) process.terminal = true;
    return process;
  }
  if (flags.args.length === 0) throw usageError('exec: missing the command; usage: bulkhead exec [flags] ID CMD [ARG...]');
  const process: Process = { args: flags.args, cwd: flags.cwd ?? init?.cwd ?? '/', env: mergeEnv(init?.env ?? [], flags.env), terminal: flags.tty };
  const user = flags.user === undefined ? init?.user : parseUser(flags.user);
  if (user !== undefined) process.user = user;
  return process;
}

/**
 * Adds capabilities to the bounding, effective and permitted sets. They go into inheritable and
 * ambient too when the sets already have ambient capabilities, which is how a non-root process
 * keeps a capability through execve.
 */
export function addCapabilities(capabilities: Capabilities, added: readonly string[]): Capabilities {
  const add = (set: string[] | undefined) => [...new Set([...(set ?? []), ...added])];
  const result: Capabilities = { ...capabilities, bounding: add(capabilities.bounding), effective: add(capabilities.effective), permitted: add(capabilities.permitted) };
  if ((capabilities.ambient ?? []).length > 0) {
    result.inheritable = add(capabilities.inheritable);
    result.ambient = add(capabilities.ambient);
  }
  return result;
}

function parseUser(value: string): { uid: number; gid: number } {
  const match = /^(\d+)(?::(\d+))?$/.exec(value);
  if (match === null) throw usageError(`--user: expected UID[:GID], got ${JSON.stringify(value)}`);
  return { uid: Number(match[1]), gid: Number(match[2] ?? 0) };
}

const VALUE_FLAGS = new Set(['process', 'p', 'env', 'e', 'cwd', 'user', 'u', 'cap', 'c', 'console-socket', 'pid-file', 'preserve-fds']);

/** Parses exec's flags up to the container id; everything after the id is the command. */
function parseExecFlags(argv: readonly string[]): ExecFlags {
  const flags: ExecFlags = { env: [], caps: [], detach: false, tty: false, args: [] };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--' || !word.startsWith('-')) {
      const rest = argv.slice(word === '--' ? i + 1 : i);
      flags.id = rest[0];
      flags.args = rest.slice(1);
      break;
    }
    const [name, inline] = splitFlag(word);
    if (name === 'd' || name === 'detach') flags.detach = true;
    else if (name === 't' || name === 'tty') flags.tty = true;
    else if (VALUE_FLAGS.has(name)) setValue(flags, name, inline ?? argv[++i]);
    else throw usageError(`exec: unknown flag ${word}`);
  }
  if (flags.id === undefined) throw usageError('exec: missing the container id; usage: bulkhead exec [flags] ID CMD [ARG...]');
  return flags;
}

function setValue(flags: ExecFlags, name: string, value: string | undefined): void {
  if (value === undefined) throw usageError(`exec: flag --${name} needs a value`);
  if (name === 'process' || name === 'p') flags.process = value;
  else if (name === 'env' || name === 'e') flags.env.push(value);
  else if (name === 'cwd') flags.cwd = value;
  else if (name === 'console-socket') flags.consoleSocket = value;
  else if (name === 'pid-file') flags.pidFile = value;
  else if (name === 'preserve-fds') flags.preserveFds = value;
  else if (name === 'cap' || name === 'c') flags.caps.push(value);
  else flags.user = value;
}
