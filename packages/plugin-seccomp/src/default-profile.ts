import { arch } from 'node:os';
import type { LinuxSeccomp, LinuxSyscall } from './profile.js';

const EPERM = 1;
const ENOSYS = 38;

/**
 * Syscalls that ordinary programs need and that act only on the calling process, its own files,
 * sockets, memory and children, grouped by area. Names a kernel or libseccomp does not know are
 * skipped with a warning, so the list can name syscalls of every supported arch.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  files: ['access', 'faccessat', 'faccessat2', 'chdir', 'fchdir', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'chown', 'fchown', 'fchownat', 'lchown', 'close', 'close_range', 'creat', 'dup', 'dup2', 'dup3', 'fadvise64', 'fallocate', 'fcntl', 'fdatasync', 'flock', 'fstat', 'fstatfs', 'fsync', 'ftruncate', 'getcwd', 'getdents', 'getdents64', 'link', 'linkat', 'lseek', 'lstat', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'newfstatat', 'open', 'openat', 'openat2', 'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat', 'readv', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'splice', 'stat', 'statfs', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee', 'truncate', 'umask', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimes', 'futimesat', 'vmsplice', 'write', 'writev', 'copy_file_range', 'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'setxattr', 'lsetxattr', 'fsetxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'fanotify_mark', 'memfd_create', 'chroot', 'ioctl', 'pipe', 'pipe2', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr', 'io_setup', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_submit', 'io_cancel', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'],
  events: ['epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old', 'eventfd', 'eventfd2', 'poll', 'ppoll', 'pselect6', 'select', '_newselect', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_gettime', 'timerfd_settime'],
  memory: ['brk', 'madvise', 'mincore', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect', 'mremap', 'msync', 'munlock', 'munlockall', 'munmap', 'membarrier', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'remap_file_pages', 'get_mempolicy', 'set_mempolicy', 'mbind', 'map_shadow_stack'],
  processes: ['arch_prctl', 'capget', 'capset', 'clone', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'vfork', 'getpid', 'getppid', 'gettid', 'getpgid', 'getpgrp', 'getsid', 'setpgid', 'setsid', 'getpriority', 'setpriority', 'getrlimit', 'setrlimit', 'prlimit64', 'ugetrlimit', 'getrusage', 'prctl', 'sched_getaffinity', 'sched_setaffinity', 'sched_getattr', 'sched_setattr', 'sched_getparam', 'sched_setparam', 'sched_getscheduler', 'sched_setscheduler', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'sched_yield', 'set_robust_list', 'get_robust_list', 'set_tid_address', 'set_thread_area', 'get_thread_area', 'rseq', 'futex', 'futex_time64', 'futex_waitv', 'restart_syscall', 'wait4', 'waitid', 'waitpid', 'kill', 'tkill', 'tgkill', 'pidfd_open', 'pidfd_send_signal', 'pidfd_getfd', 'ioprio_get', 'ioprio_set', 'getcpu', 'uname', 'sysinfo', 'times', 'personality'],
  identity: ['getuid', 'geteuid', 'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups', 'setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setgroups', 'setfsuid', 'setfsgid', 'getuid32', 'geteuid32', 'getgid32', 'getegid32', 'getresuid32', 'getresgid32', 'getgroups32', 'setuid32', 'setgid32', 'setreuid32', 'setregid32', 'setresuid32', 'setresgid32', 'setgroups32', 'setfsuid32', 'setfsgid32'],
  signals: ['alarm', 'getitimer', 'setitimer', 'pause', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_tgsigqueueinfo', 'sigaltstack', 'sigreturn', 'signal', 'sigaction', 'sigprocmask', 'sigpending', 'sigsuspend'],
  time: ['clock_getres', 'clock_gettime', 'clock_nanosleep', 'gettimeofday', 'nanosleep', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_settime'],
  network: ['accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'setsockopt', 'listen', 'recvfrom', 'recvmmsg', 'recvmsg', 'sendmmsg', 'sendmsg', 'sendto', 'shutdown', 'socket', 'socketpair', 'socketcall'],
  ipc: ['msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop', 'shmat', 'shmctl', 'shmdt', 'shmget', 'ipc'],
  other: ['getrandom', 'seccomp', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self', 'process_mrelease'],
};

/**
 * Syscalls that reach outside the container or into the kernel: mounting, tracing, kernel
 * modules and kexec, the keyring, BPF and perf, new namespaces, clocks, swap, reboot and
 * accounting. They fail with EPERM, as for a process without the privilege, rather than with
 * the default ENOSYS, which would make programs look for a fallback.
 */
const DENIED = [
  'mount', 'umount', 'umount2', 'pivot_root', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp',
  'init_module', 'finit_module', 'delete_module', 'create_module', 'kexec_load', 'kexec_file_load',
  'add_key', 'request_key', 'keyctl',
  'bpf', 'perf_event_open', 'userfaultfd', 'fanotify_init',
  'unshare', 'setns',
  'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex', 'stime',
  'swapon', 'swapoff', 'reboot', 'acct', 'quotactl', 'quotactl_fd', 'syslog', 'sethostname', 'setdomainname',
  'open_by_handle_at', 'name_to_handle_at', 'lookup_dcookie', 'iopl', 'ioperm', 'vhangup', 'nfsservctl', 'uselib', 'ustat', '_sysctl', 'sysfs',
];

/** Namespace bits of clone(2)'s flags: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

/** The arches a process of this machine can call in: the native one and its compat ABIs. */
const ARCHITECTURES: Record<string, string[]> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

/** clone's flags argument: the first on most arches, the second on s390 and s390x. */
const cloneFlagsIndex = () => (arch() === 's390x' ? 1 : 0);

/**
 * bulkhead's default seccomp profile: an allow-list. Syscalls it does not name return ENOSYS, as
 * on an older kernel, so that a libc falls back (glibc tries clone3, then clone); the syscalls in
 * DENIED return EPERM. clone is allowed only without namespace flags, and clone3 returns ENOSYS,
 * because a filter cannot read the flags inside its struct clone_args. personality is limited to
 * the domains programs query or use for 32-bit builds.
 */
export function defaultProfile(): LinuxSeccomp {
  const index = cloneFlagsIndex();
  const syscalls: LinuxSyscall[] = [
    { names: Object.values(ALLOWED).flat().filter((name) => name !== 'clone' && name !== 'personality'), action: 'SCMP_ACT_ALLOW' },
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index, value: CLONE_NAMESPACE_FLAGS.reduce((a, b) => a | b, 0) >>> 0, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ...CLONE_NAMESPACE_FLAGS.map((flag): LinuxSyscall => ({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }] })),
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    // PER_LINUX, PER_LINUX32, UNAME26 variants, and 0xffffffff, which only queries.
    ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((value): LinuxSyscall => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
    { names: DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
  ];
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: ENOSYS, architectures: ARCHITECTURES[arch()] ?? [], syscalls };
}
