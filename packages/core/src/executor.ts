import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ExecutorError } from './errors.js';
import { BARRIERS, type Barrier } from './plan/steps.js';

/**
 * The executor binary, built by `npm run build` (make -C packages/core/executor). Resolved
 * through the package's exports, so a bundle of the core still finds it.
 */
export const EXECUTOR_PATH = fileURLToPath(import.meta.resolve('@bulkhead/core/executor'));

/** Sync message types, as in the executor's README. */
const MSG = { PID: 1, BARRIER: 2, RELEASE: 3, STEP_FAILED: 4, LISTENER: 5 } as const;
const MESSAGE_SIZE = 16;

export type ExecutorMessage =
  | { type: 'pid'; pid: number }
  | { type: 'barrier'; barrier: number }
  | { type: 'step-failed'; index: number; errno: number }
  /** A seccomp step created a user notification fd, `fd` in the child, and waits for `releaseListener`. */
  | { type: 'listener'; fd: number }
  /** The sync socket closed: execve succeeded, or every process holding it died. */
  | { type: 'eof' };

/**
 * The parent's end of the sync socket with the executor and the child it clones. Messages are
 * read in order; `next()` returns them one at a time.
 */
export class ExecutorLink {
  readonly process: ChildProcess;
  private readonly socket: Socket;
  private buffered = Buffer.alloc(0);
  private readonly queue: ExecutorMessage[] = [];
  private waiter: ((message: ExecutorMessage) => void) | undefined;
  private spawnError: Error | undefined;
  private ended = false;

  /** `extraFds` become the executor's fds 4, 5, ... (FIRST_EXTRA_FD), after the sync socket. */
  constructor(plan: Buffer, stdio: StdioOptions = 'inherit', extraFds: readonly (number | Socket)[] = [], executable = EXECUTOR_PATH) {
    const fds = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio;
    this.process = spawn(executable, [], { stdio: [...fds.slice(0, 3), 'pipe', ...extraFds] as StdioOptions, argv0: 'bulkhead:setup' });
    this.process.on('error', (error) => {
      this.spawnError = error;
      this.push({ type: 'eof' });
    });
    this.socket = this.process.stdio[3] as Socket;
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('close', () => this.push({ type: 'eof' }));
    this.socket.on('error', () => this.push({ type: 'eof' }));
    this.socket.write(plan);
  }

  /** Returns the next message from the executor or the child. */
  next(): Promise<ExecutorMessage> {
    const message = this.queue.shift();
    if (message !== undefined) return Promise.resolve(message);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Lets the child past a barrier. */
  release(barrier: Barrier): void {
    const message = Buffer.alloc(MESSAGE_SIZE);
    message.writeUInt32LE(MSG.RELEASE, 0);
    message.writeInt32LE(BARRIERS[barrier], 4);
    this.socket.write(message);
  }

  /** Lets the child go on after it handed over a seccomp listener. */
  releaseListener(fd: number): void {
    const message = Buffer.alloc(MESSAGE_SIZE);
    message.writeUInt32LE(MSG.RELEASE, 0);
    message.writeInt32LE(fd, 4);
    this.socket.write(message);
  }

  /** Closes the parent's end; a child still waiting at a barrier then exits. */
  close(): void {
    this.socket.destroy();
  }

  /** Returns why the executor could not start, when spawning it failed. */
  failure(): Error | undefined {
    if (this.spawnError === undefined) return undefined;
    return new ExecutorError(`spawn executor ${EXECUTOR_PATH}: ${this.spawnError.message}; run \`npm run build\` to build it`, { cause: this.spawnError });
  }

  private receive(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= MESSAGE_SIZE) {
      this.push(decode(this.buffered.subarray(0, MESSAGE_SIZE)));
      this.buffered = this.buffered.subarray(MESSAGE_SIZE);
    }
  }

  private push(message: ExecutorMessage): void {
    if (this.ended) return;
    if (message.type === 'eof') this.ended = true;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter(message);
    } else {
      this.queue.push(message);
    }
  }
}

function decode(frame: Buffer): ExecutorMessage {
  const type = frame.readUInt32LE(0);
  const a = frame.readInt32LE(4);
  switch (type) {
    case MSG.PID:
      return { type: 'pid', pid: a };
    case MSG.BARRIER:
      return { type: 'barrier', barrier: a };
    case MSG.LISTENER:
      return { type: 'listener', fd: a };
    case MSG.STEP_FAILED:
      return { type: 'step-failed', index: a, errno: frame.readInt32LE(8) };
    default:
      throw new ExecutorError(`unknown sync message type ${type} from the executor`);
  }
}
