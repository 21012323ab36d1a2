import { readFileSync } from 'node:fs';
import { type ContainerSpec } from '@bulkhead/core';
import { checkCompliance, DEFAULT_RULES, parseRules, type Rules } from '@bulkhead/policy';
import { parseCommand } from '../args.js';
import type { GlobalFlags } from '../main.js';
import { usageError } from '../usage.js';

/**
 * `bulkhead check`: evaluates a config.json against the compliance rules (the defaults, or
 * those of --rules FILE) and prints each violation with its JSON path. Exit code 0 when the
 * spec passes, 1 when it breaks a rule, 2 for a usage error such as an unreadable file.
 */
export async function checkCommand(argv: readonly string[], _globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('check', argv, { rules: { type: 'string' }, json: { type: 'boolean' } }, { min: 1, max: 1, names: 'CONFIG' });
  const spec = readJson(positionals[0]!, 'config') as ContainerSpec;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw usageError(`check: ${positionals[0]}: must contain a JSON object`);
  const rules = values.rules === undefined ? DEFAULT_RULES : loadRules(values.rules);
  const violations = checkCompliance(spec, rules);
  if (values.json === true) {
    process.stdout.write(JSON.stringify({ pass: violations.length === 0, violations }, null, 2) + '\n');
  } else {
    for (const violation of violations) process.stdout.write(`${violation.rule}: ${violation.path}: ${violation.message}\n`);
    process.stdout.write(violations.length === 0 ? 'pass\n' : `fail: ${violations.length} violation${violations.length === 1 ? '' : 's'}\n`);
  }
  return violations.length === 0 ? 0 : 1;
}

function loadRules(path: string): Rules {
  try {
    return parseRules(readJson(path, 'rules'));
  } catch (error) {
    throw usageError(`check: ${path}: ${(error as Error).message}`);
  }
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(`check: cannot read the ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw usageError(`check: ${path}: invalid JSON: ${(error as Error).message}`);
  }
}
