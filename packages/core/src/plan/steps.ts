import type { IdMapping, NamespaceType } from '../spec.js';

/**
 * Phases of the child program, in the order the executor runs them. The order is the kernel's:
 *
 * | phase      | why here |
 * | ---------- | -------- |
 * | filesystem | mount(2) needs CAP_SYS_ADMIN in the mount namespace's owner, so mounts run before the process drops to its user. The mount plugin sets up the root and the spec's mounts here; other plugins add their own mounts into the root after those |
 * | pivot      | the mount plugin masks and freezes paths over everything mounted before, calls pivot_root(2) and makes the root read-only; host paths are out of reach after this |
 * | host       | sethostname(2) also needs CAP_SYS_ADMIN |
 * | limits     | rlimits and the capability bounding set, while still privileged: lowering a hard limit is allowed but raising one later is not, and dropping from the bounding set needs CAP_SETPCAP |
 * | identity   | setgroups, setresgid, setresuid: after this the process is the spec's user and, unless it is root, has lost its capabilities |
 * | privileges | capset, ambient capabilities and no_new_privs, after the identity change that would otherwise clear them |
 * | seccomp    | always last before exec: a filter would otherwise have to allow every syscall of the steps above |
 * | exec       | execve of the container process, after the start barrier |
 */
export const PHASES = ['filesystem', 'pivot', 'host', 'limits', 'identity', 'privileges', 'seccomp', 'exec'] as const;
export type Phase = (typeof PHASES)[number];

/** Mount flags by their kernel names, so that printed plans read like the syscall. */
export const MOUNT_FLAGS = Object.freeze({
  MS_RDONLY: 0x1,
  MS_NOSUID: 0x2,
  MS_NODEV: 0x4,
  MS_NOEXEC: 0x8,
  MS_SYNCHRONOUS: 0x10,
  MS_REMOUNT: 0x20,
  MS_MANDLOCK: 0x40,
  MS_DIRSYNC: 0x80,
  MS_NOSYMFOLLOW: 0x100,
  MS_NOATIME: 0x400,
  MS_NODIRATIME: 0x800,
  MS_BIND: 0x1000,
  MS_MOVE: 0x2000,
  MS_REC: 0x4000,
  MS_SILENT: 0x8000,
  MS_UNBINDABLE: 0x20000,
  MS_PRIVATE: 0x40000,
  MS_SLAVE: 0x80000,
  MS_SHARED: 0x100000,
  MS_RELATIME: 0x200000,
  MS_STRICTATIME: 0x1000000,
  MS_LAZYTIME: 0x2000000,
} as const);
export type MountFlag = keyof typeof MOUNT_FLAGS;

/** mount_setattr(2) attributes. */
export const MOUNT_ATTRS = Object.freeze({
  MOUNT_ATTR_RDONLY: 0x1,
  MOUNT_ATTR_NOSUID: 0x2,
  MOUNT_ATTR_NODEV: 0x4,
  MOUNT_ATTR_NOEXEC: 0x8,
  /** The atime mode's bits: clear them to set MOUNT_ATTR_RELATIME (0), NOATIME or STRICTATIME. */
  MOUNT_ATTR__ATIME: 0x70,
  MOUNT_ATTR_NOATIME: 0x10,
  MOUNT_ATTR_STRICTATIME: 0x20,
  MOUNT_ATTR_NODIRATIME: 0x80,
  MOUNT_ATTR_NOSYMFOLLOW: 0x200000,
} as const);
export type MountAttr = keyof typeof MOUNT_ATTRS;

/**
 * A path argument. `root` names a directory opened earlier by an `open-root` step: the executor
 * resolves the path inside it with openat2(RESOLVE_IN_ROOT), so a symlink in a root filesystem
 * cannot send a mount to the host. Without `root` the path is absolute in the child's current
 * mount namespace.
 */
export interface PathArg {
  path: string;
  root?: string;
}

export type Step =
  | { op: 'open-root'; path: string; slot: string }
  | {
      op: 'mount';
      source: string | null;
      target: PathArg;
      fstype: string | null;
      flags: MountFlag[];
      data: string | null;
      /** What to create at the target when it is missing; 'auto' means a file for a non-directory bind source. */
      create: 'none' | 'directory' | 'file' | 'auto';
      /**
       * The target must be a directory reached without any symlink (openat2 RESOLVE_NO_SYMLINKS),
       * for procfs and sysfs; needs a `root`.
       */
      nofollow?: boolean;
    }
  /** Binds the file held in a slot (opened by an open-path step) on the target. */
  | { op: 'mount-slot'; slot: string; target: PathArg; flags: MountFlag[]; create: 'none' | 'directory' | 'file' | 'auto' }
  /** A character device, block device or FIFO with these permission bits and owner; the parent directory must exist. */
  | { op: 'mknod'; target: PathArg; type: 'c' | 'b' | 'p'; major: number; minor: number; mode: number; uid: number; gid: number }
  | { op: 'mount-setattr'; target: PathArg; set: MountAttr[]; clear: MountAttr[]; propagation: MountFlag | null; recursive: boolean }
  | { op: 'mkdir'; target: PathArg; mode: number }
  | { op: 'symlink'; linkTarget: string; link: PathArg }
  | { op: 'pivot-root'; slot: string }
  | { op: 'sethostname'; name: string }
  | { op: 'setdomainname'; name: string }
  | { op: 'chdir'; path: string }
  | { op: 'barrier'; barrier: Barrier }
  | { op: 'exec'; file: string; argv: string[]; envp: string[] }
  | { op: 'init' }
  | { op: 'write-file'; target: PathArg; data: string }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'setresgid'; gid: number }
  | { op: 'setresuid'; uid: number }
  /** `soft` and `hard` of -1 mean RLIM_INFINITY; `name` (RLIMIT_NOFILE, ...) is for messages only. */
  | { op: 'setrlimit'; resource: number; soft: number; hard: number; name?: string }
  /** `name` (the capability of PR_CAPBSET_DROP, ...) replaces the numeric arguments in messages. */
  | { op: 'prctl'; option: number; args: [number, number, number, number]; name?: string }
  | { op: 'umask'; mask: number }
  | { op: 'open-path'; path: string; slot: string }
  | { op: 'wait-fifo'; slot: string }
  | { op: 'unshare'; namespaces: NamespaceType[] }
  /**
   * seccomp(SECCOMP_SET_MODE_FILTER) with a compiled classic BPF program. `flags` are
   * SECCOMP_FILTER_FLAG_* bits; with `listener` the kernel also returns a user notification fd,
   * which the child hands to the parent (sync message LISTENER) before it goes on.
   */
  | { op: 'seccomp'; filter: Buffer; flags: number; listener: boolean }
  /** Capability sets as masks, bit N for capability N; `names` lists them for messages only. */
  | { op: 'capset'; effective: bigint; permitted: bigint; inheritable: bigint; names?: { effective: string[]; permitted: string[]; inheritable: string[] } }
  /**
   * Runs in the executor's setup stage, before the clone, wherever it is in the plan: clones `source` as a
   * detached mount idmapped with these maps, into `slot`. `recursive` clones submounts too
   * (rbind); `recursiveIdmap` idmaps them too (ridmap).
   */
  | { op: 'idmap-tree'; source: string; slot: string; recursive: boolean; recursiveIdmap: boolean; uidMappings: IdMapping[]; gidMappings: IdMapping[] }
  /** Attaches the detached mount in `slot` at `target`, which must exist. */
  | { op: 'move-mount'; slot: string; target: PathArg }
  /**
   * Brings an interface of the child's network namespace up: its loopback device, or a veth end
   * that the parent moved in, which also gets an IPv4 address and a default route.
   */
  | { op: 'link-up'; name: string; address?: { ip: string; prefix: number }; gateway?: string }
  /**
   * A pty opened in the container's /dev/ptmx. Its master goes to the console socket, an extra
   * fd of the executor (FIRST_EXTRA_FD and up). The slave becomes the controlling terminal and
   * fds 0 to 2, owned by uid and gid (-1: unchanged), and with `console` is also bound onto
   * /dev/console. rows and cols of 0 leave the kernel's default size.
   */
  | { op: 'terminal'; socket: number; rows: number; cols: number; console: boolean; uid: number; gid: number }
  /** The executor's fds first .. first+count-1 become the process's fds 3 .. 3+count-1. */
  | { op: 'preserve-fds'; first: number; count: number }
  /** MS_MOVE the root in the slot onto "/" and chroot into it: for roots where pivot_root fails. */
  | { op: 'move-root'; slot: string }
  /** Opens the directory at `target` into `slot` (emptied first), to read it after a mount covers it. */
  | { op: 'open-in-root'; target: PathArg; slot: string }
  /**
   * Copies the contents of the directory in `slot` into the directory at `target` without
   * following symlinks (they are copied as symlinks), then empties the slot; an empty slot copies
   * nothing. `topMetadata` also gives `target` the source directory's owner, mode and times.
   * Hard links become separate files, and extended attributes are not copied.
   */
  | { op: 'copy-tree'; slot: string; target: PathArg; topMetadata: boolean };

/**
 * fds the executor receives beyond stdio and the sync socket start at this number, in the order
 * the runtime passes them (ExecutorLink's `extraFds`).
 */
export const FIRST_EXTRA_FD = 4;

export type StepOp = Step['op'];

/** Barriers: the child stops, tells the parent, and waits until the parent releases it. */
export const BARRIERS = Object.freeze({
  /** After clone: the parent places the child (uid maps, cgroups, network devices) before any step runs. */
  attach: 1,
  /** After every step but exec: the container is "created"; `start` releases it. */
  start: 2,
} as const);
export type Barrier = keyof typeof BARRIERS;

/** A step with the plugin that added it and the errnos it may fail with harmlessly. */
export interface PlannedStep {
  plugin: string;
  phase: Phase | 'barrier';
  step: Step;
  /** errno names (EEXIST, ...) that the executor ignores for this step. */
  tolerate: string[];
}

/** Namespace request: create a new one, or join the one at `path`. */
export interface NamespaceRequest {
  type: NamespaceType;
  plugin: string;
  path?: string;
}

/** Clocks that a time namespace offsets. */
export type TimeClock = 'monotonic' | 'boottime';

/** A clock offset of the time namespace created in the executor's setup stage. */
export interface TimeOffsetRequest {
  plugin: string;
  clock: TimeClock;
  secs: number;
  /** 0 to 999999999. */
  nanosecs: number;
}
