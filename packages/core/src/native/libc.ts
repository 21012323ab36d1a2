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

  close(fd) {
    const result = invoke('close', [int(fd)]);
    // close(2) must not be retried on EINTR: on Linux the descriptor is already released.
    if (result.value === -1 && result.errno !== EINTR) throw new SyscallError('close', result.errno);
  },
};
