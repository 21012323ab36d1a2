import { constants, arch as nodeArch } from 'node:os';
import { BulkheadError, ErrorCode, resolveArch, resolveSyscall, SCMP_FLTATR, SeccompFilter, type ScmpArgCmp, type ScmpCompare } from '@bulkhead/core';
import { ACTIONS, errnoOf, FILTER_FLAGS, type LinuxSeccomp, type LinuxSeccompArg, type LinuxSeccompFilter, type LinuxSyscall } from './profile.js';

/** What `includes` and `excludes` of engine-format profiles are matched against. */
export interface CompileContext {
  /** The container's bounding capabilities (CAP_SYS_ADMIN, ...). */
  capabilities: readonly string[];
  /** The running kernel's release, as uname -r prints it. */
  kernelRelease: string;
}

/** A compiled profile: the BPF program and what the executor's seccomp step needs besides. */
export interface CompiledProfile {
  bpf: Buffer;
  flags: number;
  /** True when some rule notifies, so the kernel must create a listener. */
  listener: boolean;
}

/** The arch names that engine profiles use in includes.arches and excludes.arches (Go's GOARCH and libseccomp's), by Node's arch. */
const ENGINE_ARCH_NAMES: Record<string, string[]> = { x64: ['amd64', 'x86_64'], arm64: ['arm64', 'aarch64'], arm: ['arm'], ia32: ['x86', '386'], s390x: ['s390x'], ppc64: ['ppc64le'], riscv64: ['riscv64'] };

/** The SCMP_ARCH_* name of the machine's native ABI, by Node's arch, to pick the archMap entry. */
const NATIVE_ARCH_NAMES: Record<string, string> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM', ia32: 'SCMP_ARCH_X86', s390x: 'SCMP_ARCH_S390X', ppc64: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64' };

/** Returns libseccomp's action value for an OCI action name and its errnoRet. */
export function actionValue(name: string, errnoRet: number | undefined): number {
  const base = ACTIONS[name as keyof typeof ACTIONS];
  if (name === 'SCMP_ACT_ERRNO' || name === 'SCMP_ACT_TRACE') return (base | (errnoOf(errnoRet) & 0xffff)) >>> 0;
  return base;
}

/** Returns "x86_64" for "SCMP_ARCH_X86_64": the name libseccomp's seccomp_arch_resolve_name takes. */
export function archName(ociName: string): string {
  return ociName.replace(/^SCMP_ARCH_/, '').toLowerCase();
}

/**
 * Compiles an OCI seccomp profile into a classic BPF program with libseccomp. The native arch
 * is always in the filter (seccomp_init adds it) and every listed arch is added. A syscall of an
 * arch that is not in the filter, such as an x32 syscall number on x86-64 when SCMP_ARCH_X32 is
 * not listed, returns ENOSYS, as on a kernel without that ABI. Unknown syscall names are skipped
 * here; validation has warned about each.
 */
export function compileProfile(profile: LinuxSeccomp, context: CompileContext): CompiledProfile {
  const { filter, listener } = buildFilter(profile, context);
  try {
    return { bpf: filter.exportBpf(), flags: filterFlags(profile.flags ?? []), listener };
  } finally {
    filter.release();
  }
}

/** Like compileProfile, but returns libseccomp's pseudo code of the filter, for tests and people. */
export function profilePseudoCode(profile: LinuxSeccomp, context: CompileContext): string {
  const { filter } = buildFilter(profile, context);
  try {
    return filter.exportPfc();
  } finally {
    filter.release();
  }
}

function buildFilter(profile: LinuxSeccomp, context: CompileContext): { filter: SeccompFilter; listener: boolean } {
  const defaultAction = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const filter = SeccompFilter.create(defaultAction);
  let listener = false;
  try {
    filter.setAttribute(SCMP_FLTATR.ACT_BADARCH, actionValue('SCMP_ACT_ERRNO', constants.errno.ENOSYS));
    addArches(filter, profileArches(profile));
    (profile.syscalls ?? []).forEach((rule, i) => {
      const action = actionValue(rule.action, rule.errnoRet);
      // libseccomp rejects a rule whose action is the default one, and such a rule changes nothing.
      if (!ruleApplies(rule, context) || action === defaultAction) return;
      if (rule.action === 'SCMP_ACT_NOTIFY') listener = true;
      for (const name of rule.names) addSyscallRule(filter, action, name, rule.args ?? [], `linux.seccomp.syscalls[${i}]`);
    });
    return { filter, listener };
  } catch (error) {
    filter.release();
    throw error;
  }
}

/**
 * Returns the profile's architectures. An engine-format archMap gives the native entry's arch
 * and its subArchitectures, as the engines resolve it. Entries for other arches are ignored.
 */
export function profileArches(profile: LinuxSeccomp): string[] {
  if (profile.architectures !== undefined || profile.archMap === undefined) return profile.architectures ?? [];
  const native = NATIVE_ARCH_NAMES[nodeArch()];
  return profile.archMap.filter((entry) => entry.architecture === native).flatMap((entry) => [entry.architecture, ...(entry.subArchitectures ?? [])]);
}

function addArches(filter: SeccompFilter, architectures: readonly string[]): void {
  for (const name of architectures) {
    const token = resolveArch(archName(name));
    // Validation warned about names libseccomp does not know.
    if (token !== undefined) filter.addArch(token);
  }
}

function filterFlags(flags: readonly string[]): number {
  return flags.reduce((bits, name) => bits | FILTER_FLAGS[name as keyof typeof FILTER_FLAGS], 0);
}

/**
 * Adds one syscall's rule. Conditions on different arguments are ANDed in one rule. When one
 * argument index appears more than once, each condition becomes a rule of its own, so they are
 * ORed: libseccomp cannot AND two conditions on one argument, and profiles written for runc
 * rely on this reading.
 */
function addSyscallRule(filter: SeccompFilter, action: number, name: string, args: readonly LinuxSeccompArg[], path: string): void {
  const syscall = resolveSyscall(name);
  if (syscall === undefined) return;
  const conditions = args.map(toCondition);
  const indices = new Set(args.map((arg) => arg.index));
  const groups = indices.size === args.length ? [conditions] : conditions.map((condition) => [condition]);
  for (const group of groups) {
    try {
      filter.addRule(action, syscall, group, name);
    } catch (error) {
      throw new BulkheadError(ErrorCode.SPEC_INVALID, `${path}: add rule for ${name}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function toCondition(arg: LinuxSeccompArg): ScmpArgCmp {
  return { arg: arg.index, op: arg.op as ScmpCompare, datumA: BigInt(arg.value), datumB: BigInt(arg.valueTwo ?? 0) };
}

/** Evaluates an engine-format rule's includes and excludes; OCI rules have neither and always apply. */
export function ruleApplies(rule: LinuxSyscall, context: CompileContext): boolean {
  if (rule.includes !== undefined && !matchesAll(rule.includes, context)) return false;
  if (rule.excludes !== undefined && matchesAny(rule.excludes, context)) return false;
  return true;
}

function matchesAll(filter: LinuxSeccompFilter, context: CompileContext): boolean {
  if (filter.arches !== undefined && filter.arches.length > 0 && !filter.arches.some(isNativeArch)) return false;
  if (filter.caps !== undefined && !filter.caps.every((cap) => context.capabilities.includes(cap))) return false;
  if (filter.minKernel !== undefined && compareKernel(context.kernelRelease, filter.minKernel) < 0) return false;
  return true;
}

function matchesAny(filter: LinuxSeccompFilter, context: CompileContext): boolean {
  if (filter.arches !== undefined && filter.arches.some(isNativeArch)) return true;
  if (filter.caps !== undefined && filter.caps.some((cap) => context.capabilities.includes(cap))) return true;
  if (filter.minKernel !== undefined && compareKernel(context.kernelRelease, filter.minKernel) >= 0) return true;
  return false;
}

function isNativeArch(name: string): boolean {
  return (ENGINE_ARCH_NAMES[nodeArch()] ?? []).includes(name);
}

/** Compares kernel releases by their leading numbers: "6.18.44-fc" against "5.8". */
export function compareKernel(release: string, minimum: string): number {
  const parse = (value: string) => (value.match(/^\d+(\.\d+)*/)?.[0] ?? '0').split('.').map(Number);
  const [a, b] = [parse(release), parse(minimum)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}
