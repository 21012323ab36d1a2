import { createConnection, type Socket } from 'node:net';
import { constants } from 'node:os';
import { SpecError, SyscallError } from './errors.js';
import { FIRST_EXTRA_FD, type Step } from './plan/steps.js';
import type { Process } from './spec.js';

/** Options for the fds a new process gets besides stdio. */
export interface ExtraFdOptions {
  /**
   * Path of a UNIX socket that receives the pty master when `process.terminal` is true, with
   * SCM_RIGHTS, as engines expect from runc's --console-socket. Without it, a terminal process
   * gets the caller's stdio.
   */
  consoleSocket?: string;
  /** fds of this process that the new process gets as fds 3, 4, ... (runc's --preserve-fds). */
  preserveFds?: readonly number[];
}

/**
 * The fds the executor receives after its sync socket (fds 4, 5, ...), and the steps that use
 * them. `close` drops this process's copies once the executor has its own.
 */
export class ExtraFds {
  readonly stdio: (number | Socket)[] = [];
  private console: Socket | undefined;

  /** Connects to the console socket, which requires `process.terminal`. */
  static async open(process: Process | undefined, options: ExtraFdOptions): Promise<ExtraFds> {
    const fds = new ExtraFds();
    if (options.consoleSocket !== undefined && process?.terminal !== true) {
      throw new SpecError([{ path: 'process.terminal', message: 'must be true when a console socket is given' }]);
    }
    if (options.consoleSocket !== undefined) {
      fds.console = await connect(options.consoleSocket);
      fds.stdio.push(fds.console);
    }
    fds.stdio.push(...(options.preserveFds ?? []));
    return fds;
  }

  /** Returns the terminal step for the process, or undefined without a console socket. */
  terminalStep(process: Process, options: { console: boolean }): Step | undefined {
    if (this.console === undefined) return undefined;
    const size = process.consoleSize;
    const user = process.user;
    return { op: 'terminal', socket: FIRST_EXTRA_FD, rows: size?.height ?? 0, cols: size?.width ?? 0, console: options.console, uid: user?.uid ?? -1, gid: user?.gid ?? -1 };
  }

  /** Returns the step that moves the preserved fds to 3, 4, ..., or undefined when there are none. */
  preserveStep(): Step | undefined {
    const first = FIRST_EXTRA_FD + (this.console === undefined ? 0 : 1);
    const count = this.stdio.length - (first - FIRST_EXTRA_FD);
    return count === 0 ? undefined : { op: 'preserve-fds', first, count };
  }

  close(): void {
    this.console?.destroy();
  }
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const fail = (error: NodeJS.ErrnoException) => {
      const errno = (constants.errno as Record<string, number>)[error.code ?? ''] ?? 0;
      reject(new SyscallError('connect', errno, `console socket ${path}`));
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      // Nothing is read here: the executor's child writes to the socket, and the engine reads.
      socket.pause();
      resolve(socket);
    });
  });
}
