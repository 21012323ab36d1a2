import { constants } from 'node:os';
import type { ValidationContext } from '@bulkhead/core';

/** One argument condition of an OCI seccomp rule (linux.seccomp.syscalls[].args[]). */
export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/**
 * Conditions of the container engines' profile format (Docker, containers/common): a rule applies
 * only when these match. Engines resolve them before writing config.json, but the same profile
 * files are often passed on as they are.
 */
export interface LinuxSeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

/** One rule of an OCI seccomp profile (linux.seccomp.syscalls[]). */
export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
  includes?: LinuxSeccompFilter;
  excludes?: LinuxSeccompFilter;
  comment?: string;
}

/** One entry of the engines' archMap: an arch and the compat arches its processes can call in. */
export interface LinuxSeccompArchMap {
  architecture: string;
  subArchitectures?: string[];
}

/** The OCI runtime-spec's linux.seccomp object. */
export interface LinuxSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  /** The engines' profile format: the entry of the native arch gives the architectures. */
  archMap?: LinuxSeccompArchMap[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

/** libseccomp's action values (SCMP_ACT_* in seccomp.h); ERRNO and TRACE carry a 16-bit value. */
export const ACTIONS = Object.freeze({
  SCMP_ACT_KILL: 0x00000000,
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
  SCMP_ACT_NOTIFY: 0x7fc00000,
} as const);
export type ActionName = keyof typeof ACTIONS;

/** Names in /proc/sys/kernel/seccomp/actions_avail, per action. */
export const KERNEL_ACTION_NAMES: Readonly<Record<ActionName, string>> = Object.freeze({
  SCMP_ACT_KILL: 'kill_thread',
  SCMP_ACT_KILL_THREAD: 'kill_thread',
  SCMP_ACT_KILL_PROCESS: 'kill_process',
  SCMP_ACT_TRAP: 'trap',
  SCMP_ACT_ERRNO: 'errno',
  SCMP_ACT_TRACE: 'trace',
  SCMP_ACT_LOG: 'log',
  SCMP_ACT_ALLOW: 'allow',
  SCMP_ACT_NOTIFY: 'user_notif',
});

/** seccomp(2) filter flags (SECCOMP_FILTER_FLAG_* in linux/seccomp.h). */
export const FILTER_FLAGS = Object.freeze({
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
} as const);
export type FilterFlag = keyof typeof FILTER_FLAGS;

export const COMPARE_OPS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;

/**
 * The executor reports a listener to the parent with send(2), which is sendto on most arches, so
 * a notify rule on it would make the container process wait on a listener nobody holds yet.
 */
export const NOTIFY_FORBIDDEN = ['sendto', 'send'];

const ARCH_NAME = /^SCMP_ARCH_[A-Z0-9_]+$/;
const isAction = (value: unknown): value is ActionName => typeof value === 'string' && Object.hasOwn(ACTIONS, value);
const takesErrno = (action: ActionName) => action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE';
const isUint = (value: unknown, max: number) => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;

/** Checks linux.seccomp and reports every problem with its JSON path. */
export function validateProfile(validation: ValidationContext, profile: unknown, path = 'linux.seccomp'): void {
  if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) {
    validation.problem(path, 'must be an object');
    return;
  }
  const seccomp = profile as Partial<LinuxSeccomp>;
  checkAction(validation, `${path}.defaultAction`, seccomp.defaultAction, seccomp.defaultErrnoRet, `${path}.defaultErrnoRet`);
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') validation.problem(`${path}.defaultAction`, 'SCMP_ACT_NOTIFY is not supported as the default action: the container process would wait on its own listener before the agent has it');
  checkStrings(validation, `${path}.architectures`, seccomp.architectures, (name) => ARCH_NAME.test(name), 'is not an SCMP_ARCH_* name');
  checkArchMap(validation, `${path}.archMap`, seccomp);
  checkStrings(validation, `${path}.flags`, seccomp.flags, (name) => Object.hasOwn(FILTER_FLAGS, name), `is not one of ${Object.keys(FILTER_FLAGS).join(', ')}`);
  if (seccomp.listenerPath !== undefined && (typeof seccomp.listenerPath !== 'string' || !seccomp.listenerPath.startsWith('/'))) validation.problem(`${path}.listenerPath`, 'must be an absolute path');
  if (seccomp.listenerMetadata !== undefined && seccomp.listenerPath === undefined) validation.problem(`${path}.listenerMetadata`, 'must not be set without listenerPath');
  if (seccomp.syscalls === undefined) return;
  if (!Array.isArray(seccomp.syscalls)) {
    validation.problem(`${path}.syscalls`, 'must be an array');
    return;
  }
  seccomp.syscalls.forEach((rule, i) => checkRule(validation, `${path}.syscalls[${i}]`, rule, seccomp));
}

function checkArchMap(validation: ValidationContext, path: string, seccomp: Partial<LinuxSeccomp>): void {
  if (seccomp.archMap === undefined) return;
  if (seccomp.architectures !== undefined) validation.problem(path, 'must not be set together with linux.seccomp.architectures');
  if (!Array.isArray(seccomp.archMap)) {
    validation.problem(path, 'must be an array');
    return;
  }
  seccomp.archMap.forEach((entry, i) => {
    if (typeof entry?.architecture !== 'string' || !ARCH_NAME.test(entry.architecture)) validation.problem(`${path}[${i}].architecture`, `${JSON.stringify(entry?.architecture)} is not an SCMP_ARCH_* name`);
    checkStrings(validation, `${path}[${i}].subArchitectures`, entry?.subArchitectures, (name) => ARCH_NAME.test(name), 'is not an SCMP_ARCH_* name');
  });
}

function checkAction(validation: ValidationContext, path: string, action: unknown, errnoRet: unknown, errnoPath: string): void {
  if (!isAction(action)) {
    validation.problem(path, `must be one of ${Object.keys(ACTIONS).join(', ')}`);
    return;
  }
  if (errnoRet === undefined) return;
  if (!takesErrno(action)) validation.problem(errnoPath, `is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${action}`);
  else if (!isUint(errnoRet, 0xffff)) validation.problem(errnoPath, 'must be an integer from 0 to 65535');
}

function checkStrings(validation: ValidationContext, path: string, values: unknown, valid: (value: string) => boolean, message: string): void {
  if (values === undefined) return;
  if (!Array.isArray(values)) {
    validation.problem(path, 'must be an array of strings');
    return;
  }
  values.forEach((value, i) => {
    if (typeof value !== 'string' || !valid(value)) validation.problem(`${path}[${i}]`, `${JSON.stringify(value)} ${message}`);
  });
}

function checkRule(validation: ValidationContext, path: string, rule: LinuxSyscall, seccomp: Partial<LinuxSeccomp>): void {
  if (typeof rule !== 'object' || rule === null) {
    validation.problem(path, 'must be an object');
    return;
  }
  if (!Array.isArray(rule.names) || rule.names.length === 0 || rule.names.some((name) => typeof name !== 'string' || name === '')) {
    validation.problem(`${path}.names`, 'must be a non-empty array of syscall names');
  }
  checkAction(validation, `${path}.action`, rule.action, rule.errnoRet, `${path}.errnoRet`);
  if (rule.action === 'SCMP_ACT_NOTIFY') {
    if (seccomp.listenerPath === undefined) validation.problem(`${path}.action`, 'SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath: without an agent the listener has no reader');
    for (const name of rule.names ?? []) {
      if (NOTIFY_FORBIDDEN.includes(name)) validation.problem(`${path}.names`, `SCMP_ACT_NOTIFY cannot apply to ${name}: the container process calls it to hand over the listener, before any agent has it`);
    }
  }
  (rule.args ?? []).forEach((arg, i) => checkArg(validation, `${path}.args[${i}]`, arg));
}

function checkArg(validation: ValidationContext, path: string, arg: LinuxSeccompArg): void {
  if (!isUint(arg?.index, 5)) validation.problem(`${path}.index`, 'must be an integer from 0 to 5');
  if (!isUint(arg?.value, Number.MAX_SAFE_INTEGER)) validation.problem(`${path}.value`, 'must be an unsigned integer of at most 2^53-1: larger values lose precision in JSON');
  if (arg?.valueTwo !== undefined && !isUint(arg.valueTwo, Number.MAX_SAFE_INTEGER)) validation.problem(`${path}.valueTwo`, 'must be an unsigned integer of at most 2^53-1: larger values lose precision in JSON');
  if (!COMPARE_OPS.includes(arg?.op as never)) validation.problem(`${path}.op`, `must be one of ${COMPARE_OPS.join(', ')}`);
}

/** The errno a rule or default returns: errnoRet, or EPERM as the runtime-spec says. */
export function errnoOf(errnoRet: number | undefined): number {
  return errnoRet ?? constants.errno.EPERM;
}
