import { createRequire } from 'node:module';
import { arch, constants } from 'node:os';
import type { DataType, JsExternal } from 'ffi-rs';
import { SyscallError } from '../errors.js';
import type { ExitStatus, Syscalls } from './syscalls.js';

const LIBRARY = 'libc';
const EINTR = constants.errno.EINTR;

const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;
const P_PIDFD = 3;
const WEXITED = 4;
const WNOHANG = 1;
const WNOWAIT = 0x1000000;
const LOCK_EX = 2;
/** EFD_CLOEXEC, equal to O_CLOEXEC. */
const EFD_CLOEXEC = 0o2000000;
/** sizeof(siginfo_t) on Linux. */
const SIGINFO_SIZE = 128;
const CLD_EXITED = 1;
const CLD_DUMPED = 3;

type Ffi = Pick<typeof import('ffi-rs'), 'open' | 'load' | 'createExternalBuffer' | 'DataType'>;

let ffi: Ffi | undefined;

/**
 * Loads ffi-rs on first use. On glibc x86-64 and arm64 its native binding is loaded directly:
 * ffi-rs's entry point detects musl with process.report.getReport(), which costs about
 * 8 ms of every start. The binding exports the same open, load and createExternalBuffer.
 */
function binding(): Ffi {
  if (ffi !== undefined) return ffi;
  // Resolved from ffi-rs's own directory, where npm installs its platform packages.
  const require = createRequire(createRequire(import.meta.url).resolve('ffi-rs'));
  const platform = PLATFORM_BINDINGS[arch()];
  // On musl the glibc binding fails to load, and ffi-rs's entry point picks the right one.
  ffi = (platform === undefined ? undefined : tryRequire(require, platform)) ?? (require('ffi-rs') as Ffi);
  ffi.open({ library: LIBRARY, path: 'libc.so.6' });
  return ffi;
}

const PLATFORM_BINDINGS: Record<string, string> = { x64: '@yuuang/ffi-rs-linux-x64-gnu', arm64: '@yuuang/ffi-rs-linux-arm64-gnu' };

function tryRequire(require: NodeRequire, id: string): Ffi | undefined {
  try {
    return require(id) as Ffi;
  } catch {
    return undefined;
  }
}

/** ffi-rs's load: freeResultMemory defaults to false there too. */
function load<T>(params: Parameters<Ffi['load']>[0]): T {
  return binding().load({ freeResultMemory: false, ...params } as never) as T;
}

type Param = { type: DataType; value: unknown };

/** ffi-rs's type tags, read from the binding so that nothing loads before the first call. */
const types = () => binding().DataType;

interface CallResult {
  value: number;
  errno: number;
}

/** Calls a libc function that returns -1 and sets errno on failure, retrying on EINTR. */
function call(funcName: string, params: Param[], path?: string): number {
  for (;;) {
    const result = invoke(funcName, params);
    if (result.value !== -1) return result.value;
    if (result.errno !== EINTR) throw new SyscallError(funcName, result.errno, path);
  }
}

function invoke(funcName: string, params: Param[]): CallResult {
  const result = load<{ value: number; errnoCode: number }>({
    library: LIBRARY,
    funcName,
    retType: types().I32,
    paramsType: params.map((p) => p.type),
    paramsValue: params.map((p) => p.value),
    errno: true,
  });
  return { value: result.value, errno: result.errnoCode };
}

async function invokeInThread(funcName: string, params: Param[]): Promise<CallResult> {
  const result = await load<Promise<{ value: number; errnoCode: number }>>({
    library: LIBRARY,
    funcName,
    retType: types().I32,
    paramsType: params.map((p) => p.type),
    paramsValue: params.map((p) => p.value),
    errno: true,
    runInNewThread: true,
  });
  return { value: result.value, errno: result.errnoCode };
}

const int = (value: number): Param => ({ type: types().I32, value });
const u64 = (value: number): Param => ({ type: types().U64, value });
/** A NULL pointer travels as a 64-bit zero: on x86-64 and arm64 pointers and integers share registers. */
const NULL = (): Param => ({ type: types().U64, value: 0 });
const cstring = (value: string | null): Param => (value === null ? NULL() : { type: types().String, value });
const pointer = (value: JsExternal): Param => ({ type: types().External, value });

function allocate(size: number): JsExternal {
  return load<JsExternal>({ library: LIBRARY, funcName: 'calloc', retType: types().External, paramsType: [types().U64, types().U64], paramsValue: [1, size] }) as JsExternal;
}

function release(memory: JsExternal): void {
  load<undefined>({ library: LIBRARY, funcName: 'free', retType: types().Void, paramsType: [types().External], paramsValue: [memory] });
}

/** pidfd_getfd(2) has no glibc wrapper before 2.36; its number is 438 on x86-64 and arm64 alike. */
const SYS_PIDFD_GETFD: Record<string, number> = { x64: 438, arm64: 438 };
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
/** sizeof(struct sockaddr_un): sa_family_t and a 108-byte path. */
const SOCKADDR_UN_SIZE = 110;

function sockaddrUn(path: string): Buffer {
  const address = Buffer.alloc(SOCKADDR_UN_SIZE);
  const bytes = Buffer.from(path);
  // The path needs its terminating NUL inside sun_path.
  if (bytes.length >= SOCKADDR_UN_SIZE - 2) throw new SyscallError('connect', constants.errno.ENAMETOOLONG, path);
  address.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(address, 2);
  return address;
}

/** Copies bytes into C memory for the duration of `use`, which gets a pointer to them. */
function withBytes<T>(bytes: Buffer, use: (memory: JsExternal) => T): T {
  const memory = allocate(Math.max(bytes.length, 1));
  try {
    bytes.copy(binding().createExternalBuffer(memory, bytes.length));
    return use(memory);
  } finally {
    release(memory);
  }
}

/** The address of memory from `allocate`, through memcpy's return value (its first argument). */
function addressOf(memory: JsExternal): bigint {
  return load<bigint>({ library: LIBRARY, funcName: 'memcpy', retType: types().BigInt, paramsType: [types().External, types().External, types().U64], paramsValue: [memory, memory, 0] });
}

/**
 * One sendmsg(2) of `payload` with `fd` in an SCM_RIGHTS control message. The struct msghdr, its
 * iovec, the control message and the payload are laid out in one calloc'd block (x86-64 and
 * arm64 sizes): msghdr at 0, iovec at 64, cmsghdr at 80, payload at 104. Returns the bytes sent.
 */
function sendWithFd(socket: number, payload: Buffer, fd: number, path: string): number {
  const IOV = 64;
  const CMSG = 80;
  const DATA = 104;
  const CMSG_SPACE = 24;
  const memory = allocate(DATA + payload.length);
  try {
    const base = addressOf(memory);
    const block = binding().createExternalBuffer(memory, DATA + payload.length);
    block.writeBigUInt64LE(base + BigInt(IOV), 16); // msg_iov
    block.writeBigUInt64LE(1n, 24); // msg_iovlen
    block.writeBigUInt64LE(base + BigInt(CMSG), 32); // msg_control
    block.writeBigUInt64LE(BigInt(CMSG_SPACE), 40); // msg_controllen
    block.writeBigUInt64LE(base + BigInt(DATA), IOV); // iov_base
    block.writeBigUInt64LE(BigInt(payload.length), IOV + 8); // iov_len
    block.writeBigUInt64LE(20n, CMSG); // cmsg_len = CMSG_LEN(sizeof(int))
    block.writeInt32LE(SOL_SOCKET, CMSG + 8);
    block.writeInt32LE(SCM_RIGHTS, CMSG + 12);
    block.writeInt32LE(fd, CMSG + 16);
    payload.copy(block, DATA);
    return call('sendmsg', [int(socket), pointer(memory), int(MSG_NOSIGNAL)], path);
  } finally {
    release(memory);
  }
}

/** bpf(2) has no glibc wrapper: its number on x86-64 and on arm64. */
const SYS_BPF: Record<string, number> = { x64: 321, arm64: 280 };
const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_DETACH = 9;
const BPF_PROG_GET_FD_BY_ID = 13;
const BPF_PROG_QUERY = 16;
/** The size passed for union bpf_attr: enough for every field used here, the rest zero. */
const BPF_ATTR_SIZE = 128;
/** The size of the verifier's log, which explains a rejected program. */
const BPF_LOG_SIZE = 64 * 1024;
/** BPF_CGROUP_MAX_PROGS: the maximum number of programs of one attach type on one cgroup. */
const BPF_MAX_PROGS = 64;
const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;

/**
 * Calls bpf(cmd, attr) with union bpf_attr at the start of a calloc'd block of `size` bytes, which
 * `fill` writes given the block's address (attr's pointers point into the block). Returns the
 * result and the block's bytes after the call, or throws SyscallError naming the command.
 */
function bpf(command: string, cmd: number, size: number, fill: (block: Buffer, base: bigint) => void, detail?: (block: Buffer) => string | undefined): { value: number; block: Buffer } {
  const memory = allocate(size);
  try {
    const block = binding().createExternalBuffer(memory, size);
    fill(block, addressOf(memory));
    for (;;) {
      const result = invoke('syscall', [{ type: types().I64, value: SYS_BPF[arch()] ?? -1 }, int(cmd), pointer(memory), u64(BPF_ATTR_SIZE)]);
      if (result.value !== -1) return { value: result.value, block: Buffer.from(binding().createExternalBuffer(memory, size)) };
      if (result.errno !== EINTR) throw new SyscallError(command, result.errno, undefined, detail?.(Buffer.from(binding().createExternalBuffer(memory, size))));
    }
  } finally {
    release(memory);
  }
}

/** Lines of the verifier's log that trace its walk: an instruction or a state ("12: ..."), a branch ("from 3 to 7: ..."), a source line ("; ..."). */
const VERIFIER_TRACE = /^(\d+: |from \d+ to \d+|;)/;

/**
 * Returns the verifier's reason from its log, which starts at `offset` of the block: the first
 * line that is not part of the trace of the instructions it checked, such as "R0 !read_ok" or
 * "infinite loop detected at insn 0".
 */
function verifierReason(block: Buffer, offset: number): string | undefined {
  const end = block.indexOf(0, offset);
  const lines = block.subarray(offset, end === -1 ? undefined : end).toString().split('\n').map((line) => line.trim());
  return lines.find((line) => line !== '' && !VERIFIER_TRACE.test(line));
}

/**
 * Calls bpf(BPF_PROG_LOAD) with union bpf_attr, then the instructions, the license and, when
 * `withLog` is set, the verifier's log, whose reason a failure then carries.
 */
function loadProgram(programType: number, instructions: Buffer, license: string, withLog: boolean): number {
  const code = BPF_ATTR_SIZE;
  const licenseAt = code + instructions.length;
  const logAt = licenseAt + Buffer.byteLength(license) + 1;
  const logSize = withLog ? BPF_LOG_SIZE : 0;
  const load = bpf('BPF_PROG_LOAD', BPF_PROG_LOAD, logAt + Math.max(logSize, 1), (block, base) => {
    block.writeUInt32LE(programType, 0); // prog_type
    block.writeUInt32LE(instructions.length / 8, 4); // insn_cnt
    block.writeBigUInt64LE(base + BigInt(code), 8); // insns
    block.writeBigUInt64LE(base + BigInt(licenseAt), 16); // license
    if (withLog) {
      block.writeUInt32LE(1, 24); // log_level
      block.writeUInt32LE(logSize, 28); // log_size
      block.writeBigUInt64LE(base + BigInt(logAt), 32); // log_buf
    }
    instructions.copy(block, code);
    block.write(license, licenseAt);
  }, (block) => (withLog ? verifierReason(block, logAt) : undefined));
  return load.value;
}

function decodeSiginfo(info: Buffer): ExitStatus {
  const code = info.readInt32LE(8);
  const status = info.readInt32LE(24);
  if (code === CLD_EXITED) return { exited: true, code: status };
  return { exited: false, signal: status, coreDumped: code === CLD_DUMPED };
}

/** The real syscall layer, through glibc and ffi-rs. */
export const libc: Syscalls = {
  pidfdOpen(pid) {
    return call('pidfd_open', [int(pid), int(0)], `pid ${pid}`);
  },

  pidfdSendSignal(pidfd, signal) {
    call('pidfd_send_signal', [int(pidfd), int(signal), NULL(), int(0)]);
  },

  async waitid(pidfd) {
    const info = allocate(SIGINFO_SIZE);
    try {
      for (;;) {
        const result = await invokeInThread('waitid', [int(P_PIDFD), int(pidfd), pointer(info), int(WEXITED)]);
        if (result.value === 0) return decodeSiginfo(Buffer.from(binding().createExternalBuffer(info, SIGINFO_SIZE)));
        if (result.errno !== EINTR) throw new SyscallError('waitid', result.errno);
      }
    } finally {
      release(info);
    }
  },

  hasExited(pidfd) {
    const info = allocate(SIGINFO_SIZE);
    try {
      call('waitid', [int(P_PIDFD), int(pidfd), pointer(info), int(WEXITED | WNOHANG | WNOWAIT)]);
      // With WNOHANG, waitid leaves si_pid zero while the process still runs.
      return binding().createExternalBuffer(info, SIGINFO_SIZE).readInt32LE(16) !== 0;
    } finally {
      release(info);
    }
  },

  setChildSubreaper(enabled) {
    call('prctl', [int(PR_SET_CHILD_SUBREAPER), u64(enabled ? 1 : 0), u64(0), u64(0), u64(0)]);
  },

  isChildSubreaper() {
    const value = allocate(4);
    try {
      call('prctl', [int(PR_GET_CHILD_SUBREAPER), pointer(value), u64(0), u64(0), u64(0)]);
      return binding().createExternalBuffer(value, 4).readInt32LE(0) !== 0;
    } finally {
      release(value);
    }
  },

  mount(source, target, fstype, flags, data) {
    call('mount', [cstring(source), cstring(target), cstring(fstype), u64(flags), cstring(data)], target);
  },

  umount2(target, flags) {
    call('umount2', [cstring(target), int(flags)], target);
  },

  syscallExists(number) {
    const result = invoke('syscall', [{ type: types().I64, value: number }, int(-1), u64(0), u64(0), u64(0), u64(0)]);
    return !(result.value === -1 && result.errno === constants.errno.ENOSYS);
  },

  mkfifo(path, mode) {
    call('mkfifo', [cstring(path), int(mode)], path);
  },

  pidfdGetfd(pidfd, targetfd) {
    return call('syscall', [{ type: types().I64, value: SYS_PIDFD_GETFD[arch()] ?? -1 }, int(pidfd), int(targetfd), int(0)], `fd ${targetfd}`);
  },

  sendFd(path, payload, fd) {
    const socket = call('socket', [int(AF_UNIX), int(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC), int(0)], path);
    try {
      withBytes(sockaddrUn(path), (address) => call('connect', [int(socket), pointer(address), int(SOCKADDR_UN_SIZE)], path));
      const sent = sendWithFd(socket, payload, fd, path);
      const rest = payload.subarray(sent);
      if (rest.length > 0) withBytes(rest, (bytes) => call('send', [int(socket), pointer(bytes), u64(rest.length), int(MSG_NOSIGNAL)], path));
    } finally {
      libc.close(socket);
    }
  },

  async flockExclusive(fd) {
    for (;;) {
      const result = await invokeInThread('flock', [int(fd), int(LOCK_EX)]);
      if (result.value === 0) return;
      if (result.errno !== EINTR) throw new SyscallError('flock', result.errno);
    }
  },

  eventfd() {
    return call('eventfd', [int(0), int(EFD_CLOEXEC)]);
  },

  openDirectory(path) {
    return call('open', [cstring(path), int(O_RDONLY | O_DIRECTORY | O_CLOEXEC)], path);
  },

  bpfProgLoad(programType, instructions, license) {
    // Without a log first: with one, a long program's trace can fill the buffer and fail an
    // accepted program with ENOSPC. A rejected program is loaded again with the log, whose
    // failure then carries the verifier's reason.
    try {
      return loadProgram(programType, instructions, license, false);
    } catch (error) {
      if (!(error instanceof SyscallError) || error.errno === constants.errno.EPERM) throw error;
      return loadProgram(programType, instructions, license, true);
    }
  },

  bpfProgAttach(targetFd, programFd, attachType, flags) {
    bpf('BPF_PROG_ATTACH', BPF_PROG_ATTACH, BPF_ATTR_SIZE, (block) => {
      block.writeUInt32LE(targetFd, 0); // target_fd
      block.writeUInt32LE(programFd, 4); // attach_bpf_fd
      block.writeUInt32LE(attachType, 8); // attach_type
      block.writeUInt32LE(flags, 12); // attach_flags
    });
  },

  bpfProgDetach(targetFd, programFd, attachType) {
    bpf('BPF_PROG_DETACH', BPF_PROG_DETACH, BPF_ATTR_SIZE, (block) => {
      block.writeUInt32LE(targetFd, 0); // target_fd
      block.writeUInt32LE(programFd, 4); // attach_bpf_fd
      block.writeUInt32LE(attachType, 8); // attach_type
    });
  },

  bpfProgQuery(targetFd, attachType) {
    const ids = BPF_ATTR_SIZE;
    const query = bpf('BPF_PROG_QUERY', BPF_PROG_QUERY, ids + 4 * BPF_MAX_PROGS, (block, base) => {
      block.writeUInt32LE(targetFd, 0); // target_fd
      block.writeUInt32LE(attachType, 4); // attach_type
      block.writeBigUInt64LE(base + BigInt(ids), 16); // prog_ids
      block.writeUInt32LE(BPF_MAX_PROGS, 24); // prog_cnt
    });
    const count = query.block.readUInt32LE(24);
    return Array.from({ length: count }, (_, index) => query.block.readUInt32LE(ids + 4 * index));
  },

  bpfProgGetFdById(id) {
    return bpf('BPF_PROG_GET_FD_BY_ID', BPF_PROG_GET_FD_BY_ID, BPF_ATTR_SIZE, (block) => block.writeUInt32LE(id, 0)).value;
  },

  close(fd) {
    const result = invoke('close', [int(fd)]);
    // close(2) must not be retried on EINTR: on Linux the descriptor is already released.
    if (result.value === -1 && result.errno !== EINTR) throw new SyscallError('close', result.errno);
  },
};
