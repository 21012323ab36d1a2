/**
 * The container spec: the OCI runtime-spec model (config.json), limited to the fields that
 * bulkhead's plugins read. Field names follow the runtime-spec exactly so a config.json parses
 * into this type as it is.
 */
export interface ContainerSpec {
  ociVersion: string;
  /** Absent means the mount plugin's built-in root (read-only host directories and a tmpfs). */
  root?: Root;
  process?: Process;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface Process {
  terminal?: boolean;
  /** Size of the pty in characters, when `terminal` is true. */
  consoleSize?: { height: number; width: number };
  user?: User;
  args: string[];
  env?: string[];
  cwd: string;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  capabilities?: Capabilities;
  /** The AppArmor profile the process runs under from its execve on, such as "bulkhead-default". */
  apparmorProfile?: string;
  /** The SELinux process label the process gets at its execve, such as "system_u:system_r:container_t:s0". */
  selinuxLabel?: string;
}

/** The five capability sets of the container process, each a list of names such as "CAP_CHOWN". */
export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  permitted?: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  /** The id mapping of an idmapped mount (the `idmap` and `ridmap` options). */
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

/** One range of a user namespace's uid_map or gid_map: `size` ids from `containerID` map to `hostID` on. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** A clock's offset in a time namespace, as /proc/PID/timens_offsets takes it. */
export interface TimeOffset {
  secs?: number;
  nanosecs?: number;
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

/** Namespace types as the runtime-spec names them. */
export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface Namespace {
  type: NamespaceType;
  /** Join the namespace at this path (/proc/PID/ns/TYPE or a bind mount of it) instead of creating one. */
  path?: string;
}

/** A device node to create in the container: `type` is c (or u, unbuffered), b or p (a FIFO). */
export interface LinuxDevice {
  path: string;
  type: 'c' | 'b' | 'u' | 'p';
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  /** Clock offsets of a new time namespace, keyed by clock: `monotonic` and `boottime`. */
  timeOffsets?: Record<string, TimeOffset>;
  rootfsPropagation?: 'private' | 'rprivate' | 'slave' | 'rslave' | 'shared' | 'rshared' | 'unbindable' | 'runbindable';
  maskedPaths?: string[];
  readonlyPaths?: string[];
  devices?: LinuxDevice[];
  sysctl?: Record<string, string>;
  cgroupsPath?: string;
  resources?: Record<string, unknown>;
  /** The SELinux label of the filesystems the runtime mounts for the container (its tmpfs, mqueue and devpts mounts). */
  mountLabel?: string;
}

/** OCI state status values, with 'paused' for a frozen running container, as runc reports it. */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** The runtime-spec State document, as `state` prints it and hooks receive it on stdin. */
export interface ContainerState {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

/** The highest runtime-spec version whose fields this model covers. */
export const OCI_VERSION = '1.2.0';

/** Returns the spec's namespace entry of this type, if the spec asks for one. */
export function findNamespace(spec: ContainerSpec, type: NamespaceType): Namespace | undefined {
  return spec.linux?.namespaces?.find((ns) => ns.type === type);
}
