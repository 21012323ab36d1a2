/** How a process ended, from waitid(2)'s siginfo. */
export type ExitStatus = { exited: true; code: number } | { exited: false; signal: number; coreDumped: boolean };

/** The shell convention: the exit code, or 128+N for a process killed by signal N. */
export function exitCodeOf(status: ExitStatus): number {
  return status.exited ? status.code : 128 + status.signal;
}

/**
 * The parent-side syscalls that plugins and the core need, one method per syscall, named after
 * it. Each method retries on EINTR and throws SyscallError naming the syscall, the errno and the
 * path when there is one. No policy and no logging here.
 *
 * Tests replace it with the recording fake from '@bulkhead/core/testing'.
 */
export interface Syscalls {
  /** pidfd_open(2): a file descriptor that refers to the process, immune to pid reuse. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2). */
  pidfdSendSignal(pidfd: number, signal: number): void;
  /** waitid(P_PIDFD, pidfd, WEXITED), run on a worker thread so the event loop keeps going. */
  waitid(pidfd: number): Promise<ExitStatus>;
  /** waitid(P_PIDFD, pidfd, WEXITED | WNOHANG | WNOWAIT): true when the process has exited, which it leaves unreaped. */
  hasExited(pidfd: number): boolean;
  /** prctl(PR_SET_CHILD_SUBREAPER). */
  setChildSubreaper(enabled: boolean): void;
  /** prctl(PR_GET_CHILD_SUBREAPER). */
  isChildSubreaper(): boolean;
  /** mount(2). */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** umount2(2). */
  umount2(target: string, flags: number): void;
  /** close(2). */
  close(fd: number): void;
  /**
   * Tells whether the kernel has a syscall, by calling it with invalid arguments: ENOSYS means
   * it is missing. Only for syscalls that fail harmlessly on such arguments.
   */
  syscallExists(number: number): boolean;
  /** mkfifo(3). */
  mkfifo(path: string, mode: number): void;
  /** pidfd_getfd(2): a copy, in this process, of the fd `targetfd` of the process behind `pidfd`. */
  pidfdGetfd(pidfd: number, targetfd: number): number;
  /**
   * Connects to the UNIX stream socket at `path` and sends `payload` with `fd` attached
   * (SCM_RIGHTS) in the first sendmsg(2), then closes the connection. Never blocks: the socket
   * is non-blocking, so a listener whose backlog or buffer is full is an EAGAIN error.
   */
  sendFd(path: string, payload: Buffer, fd: number): void;
  /** flock(fd, LOCK_EX), run on a worker thread because it blocks until the lock is free. */
  flockExclusive(fd: number): Promise<void>;
  /** eventfd(2) with EFD_CLOEXEC: a counter that the kernel signals, such as for a cgroup v1 OOM notification. */
  eventfd(): number;
  /** open(2) of a directory with O_RDONLY | O_DIRECTORY | O_CLOEXEC, such as a cgroup to attach a BPF program to. */
  openDirectory(path: string): number;
  /**
   * bpf(BPF_PROG_LOAD): loads `instructions` (struct bpf_insn, 8 bytes each) as a program of
   * `programType` and returns its fd. A verifier rejection carries the verifier's reason.
   */
  bpfProgLoad(programType: number, instructions: Buffer, license: string): number;
  /** bpf(BPF_PROG_ATTACH) of the program `programFd` to the cgroup `targetFd`. */
  bpfProgAttach(targetFd: number, programFd: number, attachType: number, flags: number): void;
  /** bpf(BPF_PROG_DETACH) of the program `programFd` from the cgroup `targetFd`. */
  bpfProgDetach(targetFd: number, programFd: number, attachType: number): void;
  /** bpf(BPF_PROG_QUERY): the ids of the programs attached to the cgroup `targetFd` itself, not inherited ones. */
  bpfProgQuery(targetFd: number, attachType: number): number[];
  /** bpf(BPF_PROG_GET_FD_BY_ID): an fd of a loaded program. */
  bpfProgGetFdById(id: number): number;
}

/** Constants of bpf(2) from linux/bpf.h, for the methods above. */
export const BPF_CONSTANTS = Object.freeze({
  BPF_PROG_TYPE_CGROUP_DEVICE: 15,
  BPF_CGROUP_DEVICE: 6,
  BPF_F_ALLOW_OVERRIDE: 1,
  BPF_F_ALLOW_MULTI: 2,
  BPF_F_REPLACE: 4,
});

export const UMOUNT_FLAGS = Object.freeze({ MNT_FORCE: 1, MNT_DETACH: 2, MNT_EXPIRE: 4, UMOUNT_NOFOLLOW: 8 });
