import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BulkheadError, ErrorCode } from './errors.js';
import type { Container } from './container.js';

/** Where containers' state directories live unless the runtime is told otherwise. */
export const DEFAULT_STATE_ROOT = '/run/bulkhead';

/**
 * Container ids: a letter or digit, then letters, digits, '_', '.', '-'. This keeps an id from
 * naming anything outside the state root ("..", "/", empty).
 */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkContainerId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new BulkheadError(ErrorCode.USAGE, `invalid container id ${JSON.stringify(id)}: use 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  }
}

/** Creates the container's state directory, failing when the id is taken, and registers its removal. */
export async function createStateDir(container: Container, stateRoot: string): Promise<void> {
  await mkdir(stateRoot, { recursive: true, mode: 0o700 });
  try {
    await mkdir(container.stateDir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BulkheadError(ErrorCode.CONTAINER_EXISTS, `container ${container.id} already exists in ${stateRoot}`);
    }
    throw error;
  }
  container.undo.defer(`remove state directory ${container.stateDir}`, () => rm(container.stateDir, { recursive: true, force: true }));
}

/** Writes state.json atomically: a reader sees the old document or the new one, never a mix. */
export async function writeState(container: Container): Promise<void> {
  const document = { ...container.state(), records: container.allRecords() };
  const path = join(container.stateDir, 'state.json');
  const temporary = `${path}.tmp`;
  await writeFile(temporary, JSON.stringify(document), { mode: 0o600 });
  await rename(temporary, path);
}
