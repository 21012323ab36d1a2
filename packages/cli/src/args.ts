import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a command's flags and positional arguments with node:util's parseArgs, turning its
 * errors into usage errors, and checks the number of positionals.
 */
export function parseCommand<O extends Options>(
  command: string,
  argv: readonly string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(`${command}: ${(error as Error).message.split('\n')[0]}`);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min || count > positionals.max) throw usageError(`${command}: expected ${positionals.names}; usage: bulkhead ${command} [flags] ${positionals.names}`);
  return parsed;
}
