import { SyscallError } from '../errors.js';
import type { ExitStatus, Syscalls } from '../native/syscalls.js';

/** One recorded call: the syscall's name and its arguments. */
export interface RecordedCall {
  name: keyof Syscalls;
  args: unknown[];
}

/**
 * A recording fake of the syscall layer for tests without root: every call is recorded in
 * order, and `fail(name, errno)` makes the next call of that syscall throw as the kernel would.
 */
export class RecordingSyscalls implements Syscalls {
  readonly calls: RecordedCall[] = [];
  private readonly failures = new Map<keyof Syscalls, number>();
  private subreaper = false;
  private nextFd = 100;
  /** Exit status that waitid returns. */
  exitStatus: ExitStatus = { exited: true, code: 0 };

  /** Makes the next call of `name` fail with this errno. */
  fail(name: keyof Syscalls, errno: number): void {
    this.failures.set(name, errno);
  }

  names(): string[] {
    return this.calls.map((call) => call.name);
  }

  pidfdOpen(pid: number): number {
    this.record('pidfdOpen', [pid]);
    return this.nextFd++;
  }

  pidfdSendSignal(pidfd: number, signal: number): void {
    this.record('pidfdSendSignal', [pidfd, signal]);
  }

  async waitid(pidfd: number): Promise<ExitStatus> {
    this.record('waitid', [pidfd]);
    return this.exitStatus;
  }

  hasExited(pidfd: number): boolean {
    this.record('hasExited', [pidfd]);
    return false;
  }

  setChildSubreaper(enabled: boolean): void {
    this.record('setChildSubreaper', [enabled]);
    this.subreaper = enabled;
  }

  isChildSubreaper(): boolean {
    this.record('isChildSubreaper', []);
    return this.subreaper;
  }

  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    this.record('mount', [source, target, fstype, flags, data], target);
  }

  umount2(target: string, flags: number): void {
    this.record('umount2', [target, flags], target);
  }

  close(fd: number): void {
    this.record('close', [fd]);
  }

  /** Syscall numbers that syscallExists reports missing, as on an older kernel. */
  readonly missingSyscalls = new Set<number>();

  syscallExists(number: number): boolean {
    this.record('syscallExists', [number]);
    return !this.missingSyscalls.has(number);
  }

  mkfifo(path: string, mode: number): void {
    this.record('mkfifo', [path, mode], path);
  }

  pidfdGetfd(pidfd: number, targetfd: number): number {
    this.record('pidfdGetfd', [pidfd, targetfd]);
    return this.nextFd++;
  }

  sendFd(path: string, payload: Buffer, fd: number): void {
    this.record('sendFd', [path, payload.toString(), fd], path);
  }

  async flockExclusive(fd: number): Promise<void> {
    this.record('flockExclusive', [fd]);
  }

  eventfd(): number {
    this.record('eventfd', []);
    return this.nextFd++;
  }

  openDirectory(path: string): number {
    this.record('openDirectory', [path], path);
    return this.nextFd++;
  }

  /** Programs loaded with bpfProgLoad, by fd. */
  readonly bpfPrograms = new Map<number, Buffer>();
  /** Program ids that bpfProgQuery reports, as if attached to the target before. */
  bpfAttached: number[] = [];

  bpfProgLoad(programType: number, instructions: Buffer, license: string): number {
    this.record('bpfProgLoad', [programType, instructions.length, license]);
    const fd = this.nextFd++;
    this.bpfPrograms.set(fd, instructions);
    return fd;
  }

  bpfProgAttach(targetFd: number, programFd: number, attachType: number, flags: number): void {
    this.record('bpfProgAttach', [targetFd, programFd, attachType, flags]);
  }

  bpfProgDetach(targetFd: number, programFd: number, attachType: number): void {
    this.record('bpfProgDetach', [targetFd, programFd, attachType]);
  }

  bpfProgQuery(targetFd: number, attachType: number): number[] {
    this.record('bpfProgQuery', [targetFd, attachType]);
    return [...this.bpfAttached];
  }

  bpfProgGetFdById(id: number): number {
    this.record('bpfProgGetFdById', [id]);
    return this.nextFd++;
  }

  private record(name: keyof Syscalls, args: unknown[], path?: string): void {
    this.calls.push({ name, args });
    const errno = this.failures.get(name);
    if (errno !== undefined) {
      this.failures.delete(name);
      throw new SyscallError(name.toLowerCase(), errno, path);
    }
  }
}
