import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BulkheadError, ErrorCode } from './errors.js';
import type { Container } from './container.js';
import type { Syscalls } from './native/syscalls.js';
import type { ContainerSpec, ContainerState, ContainerStatus } from './spec.js';

/** Default directory of the containers' state directories for root. */
export const DEFAULT_STATE_ROOT = '/run/bulkhead';

/**
 * Returns the default state root of the calling user: /run/bulkhead for root, and
 * $XDG_RUNTIME_DIR/bulkhead for anyone else, who cannot write /run.
 */
export function defaultStateRoot(env: NodeJS.ProcessEnv = process.env, euid: number = process.geteuid!()): string {
  if (euid === 0) return DEFAULT_STATE_ROOT;
  const runtimeDir = env['XDG_RUNTIME_DIR'];
  if (runtimeDir === undefined || runtimeDir === '' || !runtimeDir.startsWith('/')) {
    throw new BulkheadError(ErrorCode.USAGE, `XDG_RUNTIME_DIR is not set to an absolute path: a non-root user's containers keep their state under it; set it, or pass --root DIR`);
  }
  return join(runtimeDir, 'bulkhead');
}

/** The FIFO that a detached container waits on until `start` opens it, in its state directory. */
export const EXEC_FIFO = 'exec.fifo';

/**
 * Container ids: a letter or digit, then letters, digits, '_', '.', '-'. This keeps an id from
 * naming anything outside the state root ("..", "/", empty).
 */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Contents of state.json: the OCI state, and what later commands need to act on the container. */
export interface StateDocument extends ContainerState {
  /** When the container was created, as an ISO 8601 time. */
  created: string;
  /**
   * Start time of the container process in clock ticks after boot (/proc/PID/stat field 22). It
   * distinguishes the container's process from a later process that reuses its pid.
   */
  startTime?: number;
  /** The spec the container was created from. */
  config: ContainerSpec;
  /** Each plugin's record, such as the cgroup it created, for cleanup by a later command. */
  records: Record<string, Record<string, unknown>>;
  /** True while the container is frozen by pause. */
  paused?: boolean;
}

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
  // The lock file goes with it: a command run from another process (kill, state) while the
  // container lived made one, and a foreground run deletes without taking the lock.
  container.undo.defer(`remove state directory ${container.stateDir}`, async () => {
    await rm(container.stateDir, { recursive: true, force: true });
    removeLockFile(stateRoot, container.id);
  });
}

/** Writes state.json atomically: a reader sees the old document or the new one, never a mix. */
export async function writeState(container: Container): Promise<void> {
  const document: StateDocument = { ...container.state(), created: container.created, config: container.spec, records: container.allRecords() };
  if (container.startTime !== undefined) document.startTime = container.startTime;
  if (container.status === 'paused') document.paused = true;
  const path = join(container.stateDir, 'state.json');
  const temporary = `${path}.tmp`;
  await writeFile(temporary, JSON.stringify(document), { mode: 0o600 });
  await rename(temporary, path);
}

/** Reads a container's state.json; a missing directory is CONTAINER_NOT_FOUND. */
export function readState(stateRoot: string, id: string): StateDocument {
  checkContainerId(id);
  const path = join(stateRoot, id, 'state.json');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as StateDocument;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && existsSync(join(stateRoot, id))) return orphanState(stateRoot, id);
    if (code === 'ENOENT') throw new BulkheadError(ErrorCode.CONTAINER_NOT_FOUND, `container ${id} does not exist in ${stateRoot}`);
    throw new BulkheadError(ErrorCode.CONTAINER_NOT_FOUND, `read state of container ${id}: ${(error as Error).message}`);
  }
}

/** Returns the state of a directory whose create died before it wrote state.json: nothing but the id is known. */
function orphanState(stateRoot: string, id: string): StateDocument {
  return { ociVersion: '1.2.0', id, status: 'stopped', bundle: '', created: '', config: { ociVersion: '1.2.0' }, records: {}, annotations: { 'org.bulkhead.incomplete': join(stateRoot, id) } };
}

/** Ids of every container under the state root. */
export async function listIds(stateRoot: string): Promise<string[]> {
  try {
    const entries = await readdir(stateRoot, { withFileTypes: true });
    return entries.filter((entry) => entry.isDirectory() && ID_PATTERN.test(entry.name)).map((entry) => entry.name).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Reads field 22 of /proc/PID/stat, or undefined when the process is gone. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in field 2 may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/**
 * Derives the container's status now, as runc does: stopped once its process is gone (or a
 * different process has its pid), created while the exec FIFO still exists, running otherwise.
 */
export function currentStatus(document: StateDocument, stateDir: string): ContainerStatus {
  if (document.pid === undefined || document.startTime === undefined) return document.status === 'creating' ? 'creating' : 'stopped';
  if (processStartTime(document.pid) !== document.startTime) return 'stopped';
  if (document.status === 'creating') return 'creating';
  if (existsSync(join(stateDir, EXEC_FIFO))) return 'created';
  return document.paused === true ? 'paused' : 'running';
}

/**
 * Serializes commands on one container id: an exclusive flock on <state root>/.<id>.lock, held
 * until `fn` settles. Only `create` (mustExist false) makes the lock file of an id that has no
 * state directory, so failed commands on unknown ids leave no lock files behind.
 */
export async function withLock<T>(syscalls: Syscalls, stateRoot: string, id: string, fn: () => Promise<T>, options: { mustExist: boolean } = { mustExist: true }): Promise<T> {
  checkContainerId(id);
  if (options.mustExist && !existsSync(join(stateRoot, id))) throw new BulkheadError(ErrorCode.CONTAINER_NOT_FOUND, `container ${id} does not exist in ${stateRoot}`);
  mkdirSync(stateRoot, { recursive: true, mode: 0o700 });
  const fd = await lockFile(syscalls, join(stateRoot, `.${id}.lock`));
  try {
    return await fn();
  } finally {
    // A container gone by now (deleted by this command, or by the foreground run that owns it and
    // takes no lock) needs no lock file; removing it while holding the lock is safe, see lockFile.
    if (!existsSync(join(stateRoot, id))) removeLockFile(stateRoot, id);
    closeSync(fd);
  }
}

/**
 * Opens and locks the lock file. A delete unlinks it while other commands may wait on it, so
 * after the lock is taken the path must still name the locked file; otherwise a command that
 * came later has created a new one, and the lock is taken again on that.
 */
async function lockFile(syscalls: Syscalls, path: string): Promise<number> {
  for (;;) {
    const fd = openSync(path, 'a', 0o600);
    await syscalls.flockExclusive(fd);
    if (sameFile(fd, path)) return fd;
    closeSync(fd);
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    const locked = fstatSync(fd);
    const current = statSync(path);
    return locked.ino === current.ino && locked.dev === current.dev;
  } catch {
    return false;
  }
}

/** Removes the lock file of a deleted container. Only call it while holding the lock. */
export function removeLockFile(stateRoot: string, id: string): void {
  try {
    unlinkSync(join(stateRoot, `.${id}.lock`));
  } catch {
    // Already gone.
  }
}
