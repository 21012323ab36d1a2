import { createWriteStream, openSync } from 'node:fs';
import type { Logger } from '@bulkhead/core';
import { usageError } from './usage.js';

export interface LogFlags {
  debug: boolean;
  log?: string;
  format: 'text' | 'json';
}

/**
 * Creates the pino logger the global flags ask for. pino is loaded only when logging is on, so a
 * plain `bulkhead run` pays nothing for it.
 */
export async function createLogger(flags: LogFlags): Promise<Logger> {
  if (!flags.debug && flags.log === undefined) return stderrWarnings;
  const { pino } = await import('pino');
  const sink = flags.log === undefined ? process.stderr : openLogFile(flags.log);
  const destination = flags.format === 'json' ? sink : { write: (line: string) => sink.write(formatText(line)) };
  // runc's JSON lines: the level as a name and the time as RFC 3339, which containerd's shim
  // parses to report a runtime's last error.
  const options = { level: flags.debug ? 'debug' : 'warn', base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } };
  return pino(options, destination) as unknown as Logger;
}

/** Opens the log file now, so that a bad path is a one-line error before anything runs. */
function openLogFile(path: string): NodeJS.WritableStream {
  try {
    return createWriteStream(path, { fd: openSync(path, 'a', 0o640) });
  } catch (error) {
    throw usageError(`open log file ${path} given by --log: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * The logger without --debug or --log: warnings and errors as one line each on stderr, the rest
 * dropped, without loading pino.
 */
const stderrWarnings: Logger = {
  debug() {},
  info() {},
  warn: (_fields, message) => void process.stderr.write(`bulkhead: warning: ${message}\n`),
  error: (_fields, message) => void process.stderr.write(`bulkhead: error: ${message}\n`),
  child: () => stderrWarnings,
};

/** Formats one pino JSON line as logfmt, the text format of runc's --log-format text. */
function formatText(line: string): string {
  const { time, level, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
  const pairs = Object.entries(fields).map(([key, value]) => `${key}=${quoteValue(value)}`);
  return [`time="${String(time)}"`, `level=${String(level)}`, `msg=${quoteValue(msg)}`, ...pairs].join(' ') + '\n';
}

function quoteValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[\w./:-]+$/.test(text) ? text : JSON.stringify(text);
}

export function parseLogFormat(value: string): 'text' | 'json' {
  if (value !== 'text' && value !== 'json') throw usageError(`invalid --log-format ${JSON.stringify(value)}: expected text or json`);
  return value;
}
