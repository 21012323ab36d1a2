import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_FILE, DEFAULT_STATE_ROOT, checkContainerId } from '@bulkhead/core';
import { parseCommand } from '../args.js';
import { createRuntime } from '../compose.js';
import type { GlobalFlags } from '../main.js';

/**
 * `bulkhead audit ID`: prints the container's audit events, one JSON object per line, oldest
 * first: every policy decision that denied or changed something for it or for its exec'd
 * processes. The events live in its state directory, so they are gone once it is deleted.
 */
export async function auditCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { positionals } = parseCommand('audit', argv, {}, { min: 1, max: 1, names: 'ID' });
  const id = positionals[0]!;
  checkContainerId(id);
  // Loading the state first reports a missing container as such, not as a missing file.
  createRuntime(globals.runtime).state(id);
  const path = join(globals.runtime.stateRoot ?? DEFAULT_STATE_ROOT, id, AUDIT_FILE);
  try {
    process.stdout.write(readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return 0;
}
