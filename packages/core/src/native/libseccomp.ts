import { createRequire } from 'node:module';
import { closeSync, fstatSync, readSync } from 'node:fs';
import type { JsExternal } from 'ffi-rs';
import { BulkheadError, ErrorCode, SyscallError } from '../errors.js';

const LIBRARY = 'libseccomp';
const LIBC = 'libc-seccomp';
const MFD_CLOEXEC = 1;

/** seccomp_rule_add_array's comparison operators (enum scmp_compare in seccomp.h). */
export const SCMP_CMP = Object.freeze({ SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7 } as const);
export type ScmpCompare = keyof typeof SCMP_CMP;

/** Filter attributes (enum scmp_filter_attr in seccomp.h) that the compiler sets. */
export const SCMP_FLTATR = Object.freeze({ ACT_BADARCH: 2, CTL_NNP: 3, CTL_OPTIMIZE: 8, API_SYSRAWRC: 9 } as const);

/** One argument condition: `arg` is the syscall argument index, 0 to 5. */
export interface ScmpArgCmp {
  arg: number;
  op: ScmpCompare;
  datumA: bigint;
  datumB: bigint;
}

type Ffi = Pick<typeof import('ffi-rs'), 'open' | 'load' | 'DataType'>;
let ffi: Ffi | undefined;

function binding(): Ffi {
  if (ffi !== undefined) return ffi;
  const require = createRequire(import.meta.url);
  const loaded = require('ffi-rs') as Ffi;
  try {
    loaded.open({ library: LIBRARY, path: 'libseccomp.so.2' });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new BulkheadError(ErrorCode.SYSCALL_FAILED, `load libseccomp.so.2: ${reason}; install libseccomp2 (Debian: apt-get install libseccomp2)`, { cause: error });
  }
  loaded.open({ library: LIBC, path: 'libc.so.6' });
  ffi = loaded;
  return ffi;
}

type Param = [keyof Ffi['DataType'], unknown];

function callIn<T>(library: string, funcName: string, retType: keyof Ffi['DataType'], params: Param[]): T {
  const { load, DataType } = binding();
  return load({
    library,
    funcName,
    retType: DataType[retType],
    paramsType: params.map(([type]) => DataType[type]),
    paramsValue: params.map(([, value]) => value),
    freeResultMemory: false,
  } as never) as T;
}

/** Calls a libseccomp function that returns a negative errno on failure. */
function check(funcName: string, params: Param[], what?: string): number {
  const rc = callIn<number>(LIBRARY, funcName, 'I32', params);
  if (rc < 0) throw new SyscallError(funcName, -rc, what);
  return rc;
}

/** Returns the libseccomp arch token for a name such as "x86_64" (seccomp_arch_resolve_name), or undefined. */
export function resolveArch(name: string): number | undefined {
  const token = callIn<number>(LIBRARY, 'seccomp_arch_resolve_name', 'U32', [['String', name]]);
  return token === 0 ? undefined : token;
}

/** The arch token of the running kernel's native ABI (seccomp_arch_native). */
export function nativeArch(): number {
  return callIn<number>(LIBRARY, 'seccomp_arch_native', 'U32', []);
}

/** Returns the syscall number of `name` for `arch` (seccomp_syscall_resolve_name_arch), or undefined when libseccomp does not know it there. */
export function resolveSyscall(name: string, arch = 0): number | undefined {
  const number = callIn<number>(LIBRARY, 'seccomp_syscall_resolve_name_arch', 'I32', [['U32', arch], ['String', name]]);
  return number === -1 ? undefined : number;
}

/** Returns libseccomp's version (seccomp_version), such as "2.5.4": its syscall tables and the code it generates depend on it. */
export function libseccompVersion(): string {
  const { load, DataType } = binding();
  const version = load({
    library: LIBRARY,
    funcName: 'seccomp_version',
    retType: { major: DataType.U32, minor: DataType.U32, micro: DataType.U32 },
    paramsType: [],
    paramsValue: [],
    freeResultMemory: false,
  } as never) as { major: number; minor: number; micro: number };
  return `${version.major}.${version.minor}.${version.micro}`;
}

/** libseccomp's API level (seccomp_api_get): what the library and the running kernel support together. */
export function apiLevel(): number {
  return callIn<number>(LIBRARY, 'seccomp_api_get', 'U32', []);
}

/**
 * A libseccomp filter context (scmp_filter_ctx). It only compiles: `exportBpf` returns the
 * program, and nothing here loads it, because the filter belongs to the container process,
 * which the executor loads it into. Call `release` when done.
 */
export class SeccompFilter {
  private constructor(private ctx: JsExternal | undefined) {}

  /** seccomp_init: a filter for the native arch whose default action is `defaultAction`. */
  static create(defaultAction: number): SeccompFilter {
    const ctx = callIn<JsExternal | null>(LIBRARY, 'seccomp_init', 'External', [['U32', defaultAction]]);
    if (ctx === null) throw new SyscallError('seccomp_init', 22, `default action 0x${defaultAction.toString(16)}`);
    return new SeccompFilter(ctx);
  }

  /** seccomp_arch_add; an arch that is already there (EEXIST) is not an error. */
  addArch(token: number): void {
    const rc = callIn<number>(LIBRARY, 'seccomp_arch_add', 'I32', [['External', this.context()], ['U32', token]]);
    if (rc < 0 && -rc !== 17) throw new SyscallError('seccomp_arch_add', -rc, `arch 0x${token.toString(16)}`);
  }

  /** seccomp_attr_set. */
  setAttribute(attribute: number, value: number): void {
    check('seccomp_attr_set', [['External', this.context()], ['U32', attribute], ['U32', value]], `attribute ${attribute}`);
  }

  /** seccomp_rule_add_array with the native syscall number from `resolveSyscall`. */
  addRule(action: number, syscall: number, conditions: readonly ScmpArgCmp[], what?: string): void {
    const array = Buffer.alloc(24 * Math.max(conditions.length, 1));
    conditions.forEach((condition, i) => {
      array.writeUInt32LE(condition.arg, 24 * i);
      array.writeUInt32LE(SCMP_CMP[condition.op], 24 * i + 4);
      array.writeBigUInt64LE(condition.datumA, 24 * i + 8);
      array.writeBigUInt64LE(condition.datumB, 24 * i + 16);
    });
    check('seccomp_rule_add_array', [['External', this.context()], ['U32', action], ['I32', syscall], ['U32', conditions.length], ['U8Array', array]], what);
  }

  /** seccomp_export_bpf into a memfd: the classic BPF program, 8 bytes per instruction. */
  exportBpf(): Buffer {
    return this.exportTo('seccomp_export_bpf');
  }

  /** seccomp_export_pfc: the filter as libseccomp's readable pseudo code, for tests and `bulkhead plan`. */
  exportPfc(): string {
    return this.exportTo('seccomp_export_pfc').toString('utf8');
  }

  /** seccomp_release. */
  release(): void {
    if (this.ctx === undefined) return;
    callIn(LIBRARY, 'seccomp_release', 'Void', [['External', this.ctx]]);
    this.ctx = undefined;
  }

  private exportTo(funcName: string): Buffer {
    const fd = callIn<number>(LIBC, 'memfd_create', 'I32', [['String', 'bulkhead-seccomp'], ['U32', MFD_CLOEXEC]]);
    if (fd < 0) throw new SyscallError('memfd_create', 24);
    try {
      check(funcName, [['External', this.context()], ['I32', fd]]);
      const output = Buffer.alloc(fstatSync(fd).size);
      let offset = 0;
      while (offset < output.length) offset += readSync(fd, output, offset, output.length - offset, offset);
      return output;
    } finally {
      closeSync(fd);
    }
  }

  private context(): JsExternal {
    if (this.ctx === undefined) throw new Error('seccomp filter used after release');
    return this.ctx;
  }
}
