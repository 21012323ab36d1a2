import { AuditTrail, type AuditListener } from './audit.js';
import { readdirSync, statSync } from 'node:fs';
import { constants } from 'node:fs';
import { open, rm, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Container } from './container.js';
import { BulkheadError, ContainerStateError, ErrorCode } from './errors.js';
import type { Hooks } from './hooks.js';
import type { Logger } from './log.js';
import type { Syscalls } from './native/syscalls.js';
import type { ContainerState } from './spec.js';
import { currentStatus, EXEC_FIFO, processStartTime, readState, removeLockFile, writeState, type StateDocument } from './state.js';

/** Runtime parts that the operations on a stored container use. */
export interface StoreContext {
  stateRoot: string;
  syscalls: Syscalls;
  hooks: Hooks;
  log: Logger;
  /** The runtime's audit listeners, for events of plugins acting on a stored container (exec). */
  auditListeners: readonly AuditListener[];
}

/** How long `start` waits for a created container to take the FIFO's byte, and `delete` for a killed one to exit. */
const PROCESS_TIMEOUT_MS = 10_000;

/** Rebuilds the Container that hooks see from state.json, with its status as of now. */
export function loadContainer(context: StoreContext, id: string): Container {
  const document = readState(context.stateRoot, id);
  const stateDir = join(context.stateRoot, id);
  const container = new Container(id, document.config, document.bundle, stateDir, context.syscalls, context.log.child({ container: id }));
  container.status = currentStatus(document, stateDir);
  container.pid = document.pid;
  container.startTime = document.startTime;
  container.created = document.created;
  container.restoreRecords(document.records);
  container.auditTrail = new AuditTrail(context.auditListeners);
  container.auditTrail.open(stateDir);
  return container;
}

/** Returns the runtime-spec State of a stored container, as `bulkhead state` prints it. */
export function storedState(context: StoreContext, id: string): ContainerState & { created: string } {
  const container = loadContainer(context, id);
  return { ...container.state(), created: container.created };
}

/**
 * Starts a created container from any process: opens its exec FIFO for reading, which lets the
 * container past its last wait to execve, and removes the FIFO, which marks it running.
 */
export async function startStored(context: StoreContext, id: string): Promise<Container> {
  const container = loadContainer(context, id);
  if (container.status !== 'created') throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot start container ${id}: it is ${container.status}, not created`);
  if (container.spec.process === undefined) throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot start container ${id}: its spec has no process`);
  await context.hooks.startContainer.promise(container);
  await releaseFifo(container);
  container.status = 'running';
  await writeState(container);
  await context.hooks.started.promise(container);
  await context.hooks.poststart.promise(container);
  return container;
}

/**
 * Opens the FIFO without blocking and waits for the byte the container writes once it has
 * opened its end. On Linux an O_RDWR open of a FIFO never blocks and counts as a reader (fifo(7)),
 * so the container's open for writing completes. O_NONBLOCK keeps a container that died
 * meanwhile from hanging `start` in a read.
 */
async function releaseFifo(container: Container): Promise<void> {
  const path = join(container.stateDir, EXEC_FIFO);
  const fifo = await open(path, constants.O_RDWR | constants.O_NONBLOCK);
  try {
    const deadline = Date.now() + PROCESS_TIMEOUT_MS;
    while (!(await readByte(fifo))) {
      if (Date.now() > deadline || !isAlive(container)) throw new ContainerStateError(ErrorCode.INVALID_STATE, `start container ${container.id}: its process exited before it was released`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await unlink(path);
  } finally {
    await fifo.close();
  }
}

async function readByte(fifo: FileHandle): Promise<boolean> {
  try {
    return (await fifo.read(Buffer.alloc(1), 0, 1, null)).bytesRead === 1;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return false;
    throw error;
  }
}

/** True while the recorded pid still names the container's process: one with the recorded start time. */
function isAlive(container: Container): boolean {
  return container.pid !== undefined && container.startTime !== undefined && processStartTime(container.pid) === container.startTime;
}

/** Freezes (pause) or thaws (resume) every process of a running container through the freeze taps. */
export async function freezeStored(context: StoreContext, id: string, frozen: boolean): Promise<void> {
  const container = loadContainer(context, id);
  const expected = frozen ? 'running' : 'paused';
  if (container.status !== expected) throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot ${frozen ? 'pause' : 'resume'} container ${id}: it is ${container.status}, not ${expected}`);
  if (context.hooks.freeze.taps.length === 0) throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot ${frozen ? 'pause' : 'resume'} container ${id}: no plugin of this runtime can freeze containers`);
  await context.hooks.freeze.promise(container, frozen);
  container.status = frozen ? 'paused' : 'running';
  await writeState(container);
}

/** Sends a signal to the container's process, or with `all` to every process in its pid namespace. */
export function killStored(context: StoreContext, id: string, signal: number, all: boolean): void {
  const container = loadContainer(context, id);
  if (container.status !== 'created' && container.status !== 'running' && container.status !== 'paused') {
    throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot signal container ${id}: it is ${container.status}`);
  }
  const pids = all ? containerPids(container) : [container.pid!];
  for (const pid of pids) signalProcess(context.syscalls, pid, signal, pid === container.pid ? container.startTime : undefined);
}

/** Signals a process through a pidfd, after checking that the pid still names the expected process. */
function signalProcess(syscalls: Syscalls, pid: number, signal: number, startTime: number | undefined): void {
  let pidfd: number;
  try {
    pidfd = syscalls.pidfdOpen(pid);
  } catch {
    return; // It exited since the list was made.
  }
  try {
    // Holding the pidfd pins the process, so a matching start time now cannot change under us.
    if (startTime === undefined || processStartTime(pid) === startTime) syscalls.pidfdSendSignal(pidfd, signal);
  } finally {
    syscalls.close(pidfd);
  }
}

/**
 * Returns the host pids of the container's processes. With a pid namespace of its own, they are
 * every process in the pid namespace of its init; otherwise only its init.
 */
export function containerPids(container: Container): number[] {
  const init = container.pid;
  if (init === undefined) return [];
  const namespace = pidNamespace(init);
  const hostNamespace = pidNamespace(process.pid);
  if (namespace === undefined || namespace === hostNamespace) return [init];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (/^\d+$/.test(entry) && pidNamespace(Number(entry)) === namespace) pids.push(Number(entry));
  }
  return pids;
}

function pidNamespace(pid: number): string | undefined {
  try {
    const stat = statSync(`/proc/${pid}/ns/pid`);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Deletes a stored container: a running one only with `force`, which kills it first. Every
 * plugin releases what its record names, then the state directory goes.
 */
export async function deleteStored(context: StoreContext, id: string, force: boolean): Promise<void> {
  const container = loadContainer(context, id);
  if ((container.status === 'running' || container.status === 'paused') && !force) {
    throw new ContainerStateError(ErrorCode.INVALID_STATE, `cannot delete container ${id}: it is ${container.status}; stop it first or use --force`);
  }
  // A frozen process cannot act on SIGKILL until it is thawed.
  if (container.status === 'paused') await context.hooks.freeze.promise(container, false);
  if (isAlive(container)) await killAndWait(context, container);
  container.status = 'stopped';
  const errors: Error[] = [];
  await context.hooks.cleanup.promise(container).catch((error: Error) => errors.push(error));
  await rm(container.stateDir, { recursive: true, force: true });
  removeLockFile(context.stateRoot, id);
  await context.hooks.poststop.promise(container).catch((error: Error) => container.log.warn({ err: error }, 'poststop hook failed'));
  if (errors.length > 0) throw new AggregateError(errors, `delete container ${id}: ${errors.map((e) => e.message).join('; ')}`);
}

async function killAndWait(context: StoreContext, container: Container): Promise<void> {
  for (const pid of containerPids(container)) signalProcess(context.syscalls, pid, 9, pid === container.pid ? container.startTime : undefined);
  const deadline = Date.now() + PROCESS_TIMEOUT_MS;
  while (isAlive(container)) {
    if (Date.now() > deadline) throw new BulkheadError(ErrorCode.INVALID_STATE, `delete container ${container.id}: its process ${container.pid} did not exit after SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Returns every stored container's state, for `bulkhead list`. */
export function readStates(context: StoreContext, ids: readonly string[]): (ContainerState & { created: string })[] {
  return ids.flatMap((id) => {
    try {
      return [storedState(context, id)];
    } catch {
      return []; // Deleted while the list was read.
    }
  });
}

export type { StateDocument };
