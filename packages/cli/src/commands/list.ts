import { execFileSync } from 'node:child_process';
import { parseCommand } from '../args.js';
import { createRuntime } from '../compose.js';
import type { GlobalFlags } from '../main.js';
import { usageError } from '../usage.js';

const formatFlag = { format: { type: 'string', short: 'f' } } as const;

function checkFormat(format: string | undefined): 'table' | 'json' {
  if (format === undefined || format === 'table' || format === 'json') return format ?? 'table';
  throw usageError(`invalid --format ${JSON.stringify(format)}: expected table or json`);
}

/** `bulkhead list`: the containers under the state root, as a table or JSON. */
export async function listCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values } = parseCommand('list', argv, { ...formatFlag, quiet: { type: 'boolean', short: 'q' } }, { min: 0, max: 0, names: '' });
  const format = checkFormat(values.format);
  const states = await createRuntime(globals.runtime).list();
  if (values.quiet === true) {
    process.stdout.write(states.map((state) => `${state.id}\n`).join(''));
  } else if (format === 'json') {
    process.stdout.write(JSON.stringify(states) + '\n');
  } else {
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED'], ...states.map((s) => [s.id, String(s.pid ?? 0), s.status, s.bundle, s.created])];
    process.stdout.write(formatTable(rows));
  }
  return 0;
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]! + 3))).join('') + '\n').join('');
}

/** `bulkhead ps`: the container's processes, as `ps -ef` rows or a JSON array of host pids. */
export async function psCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('ps', argv, formatFlag, { min: 1, max: 1, names: 'ID' });
  const pids = createRuntime(globals.runtime).pids(positionals[0]!);
  if (checkFormat(values.format) === 'json') {
    process.stdout.write(JSON.stringify(pids) + '\n');
    return 0;
  }
  const [header, ...lines] = execFileSync('ps', ['-ef'], { encoding: 'utf8' }).trimEnd().split('\n');
  const pidColumn = header!.trim().split(/\s+/).indexOf('PID');
  const selected = lines.filter((line) => pids.includes(Number(line.trim().split(/\s+/)[pidColumn])));
  process.stdout.write([header, ...selected].join('\n') + '\n');
  return 0;
}
