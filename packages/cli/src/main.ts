import { BulkheadError, ErrorCode, StepError, type Logger } from '@bulkhead/core';
import type { MountPluginOptions } from '@bulkhead/plugin-mount';
import { createCommand, deleteCommand, killCommand, pauseCommand, resumeCommand, startCommand, stateCommand } from './commands/lifecycle.js';
import { auditCommand } from './commands/audit.js';
import { checkCommand } from './commands/check.js';
import { execCommand } from './commands/exec.js';
import { eventsCommand, updateCommand } from './commands/resources.js';
import { listCommand, psCommand } from './commands/list.js';
import { netStatsCommand } from './commands/net-stats.js';
import { planCommand } from './commands/plan.js';
import { runCommand } from './commands/run.js';
import { featuresCommand, specCommand } from './commands/spec.js';
import { splitFlag } from './flags.js';
import { createLogger, parseLogFormat } from './logger.js';
import { readMountPolicy } from './mount-flags.js';
import { HELP, usageError } from './usage.js';

export const VERSION = '0.1.0';

export interface GlobalFlags {
  runtime: { stateRoot?: string; logger?: Logger; mount?: MountPluginOptions };
  debug: boolean;
  /** True with --log: errors then also go to the log file, as runc's do. */
  logFile: boolean;
}

type Command = (argv: readonly string[], globals: GlobalFlags) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  run: runCommand,
  plan: planCommand,
  create: createCommand,
  start: startCommand,
  state: stateCommand,
  kill: killCommand,
  delete: deleteCommand,
  list: listCommand,
  ps: psCommand,
  spec: specCommand,
  features: featuresCommand,
  exec: execCommand,
  pause: pauseCommand,
  resume: resumeCommand,
  events: eventsCommand,
  update: updateCommand,
  check: checkCommand,
  audit: auditCommand,
  'net-stats': netStatsCommand,
};

/** Runs the command line and returns the exit code: the command's own, 1 for a runtime error, 2 for a usage error. */
export async function main(argv: readonly string[]): Promise<number> {
  let debug = false;
  let logger: Logger | undefined;
  try {
    const { globals, rest } = await parseGlobals(argv);
    debug = globals.debug;
    if (globals.logFile) logger = globals.runtime.logger;
    const [name, ...commandArgv] = rest;
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      process.stdout.write(HELP);
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === 'version') {
      process.stdout.write(`bulkhead version ${VERSION}\n`);
      return 0;
    }
    const command = COMMANDS[name];
    if (command === undefined) throw usageError(`unknown command ${JSON.stringify(name)}; run bulkhead help`);
    return await command(commandArgv, globals);
  } catch (error) {
    return report(error, debug, logger);
  }
}

async function parseGlobals(argv: readonly string[]): Promise<{ globals: GlobalFlags; rest: readonly string[] }> {
  const log: { debug: boolean; log?: string; format: 'text' | 'json' } = { debug: false, format: 'text' };
  const runtime: GlobalFlags['runtime'] = {};
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('--') && argv[i] !== '--version' && argv[i] !== '--help'; i++) {
    const [name, inline] = splitFlag(argv[i]!);
    if (name === 'debug') {
      log.debug = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw usageError(`flag --${name} needs a value`);
    if (name === 'root') runtime.stateRoot = value;
    else if (name === 'log') log.log = value;
    else if (name === 'mount-policy') runtime.mount = { policy: readMountPolicy(value) };
    else if (name === 'log-format') log.format = parseLogFormat(value);
    else throw usageError(`unknown global flag --${name}`);
  }
  runtime.logger = await createLogger(log);
  return { globals: { runtime, debug: log.debug, logFile: log.log !== undefined }, rest: argv.slice(i) };
}

/**
 * Prints one line for an error and returns the exit code. With a log file the line is also
 * logged at level error: containerd's shim reports the last error entry of the log file.
 */
function report(error: unknown, debug: boolean, logger: Logger | undefined): number {
  const message = error instanceof Error ? error.message : String(error);
  const cleanup = (error as { cleanupErrors?: Error[] } | null)?.cleanupErrors ?? [];
  const suffix = cleanup.length > 0 ? `; cleanup also failed: ${cleanup.map((e) => e.message).join('; ')}` : '';
  process.stderr.write(`bulkhead: ${message}${suffix}\n`);
  logger?.error({}, `${message}${suffix}`);
  if (debug && error instanceof Error && error.stack !== undefined) process.stderr.write(`${error.stack}\n`);
  if (error instanceof BulkheadError && error.code === ErrorCode.USAGE) return 2;
  return execExitCode(error) ?? 1;
}

/** Shells' codes for a command that cannot run: 127 when it is not found, 126 when it is not executable. */
function execExitCode(error: unknown): number | undefined {
  if (!(error instanceof StepError) || error.op !== 'exec') return undefined;
  if (error.errnoName === 'ENOENT') return 127;
  if (error.errnoName === 'EACCES' || error.errnoName === 'ENOEXEC') return 126;
  return undefined;
}
