import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { apiLevel, BulkheadError, ErrorCode, inheritFromInit, OCI_VERSION, resolveArch, resolveSyscall, type Container, type ContainerSpec, type Plan, type Plugin, type SeccompListener, type ValidationContext } from '@bulkhead/core';
import { CompileCache } from './cache.js';
import { archName, compareKernel, type CompileContext } from './compile.js';
import { defaultProfile } from './default-profile.js';
import { KERNEL_ACTION_NAMES, validateProfile, type ActionName, type LinuxSeccomp } from './profile.js';

export const PLUGIN_NAME = '@bulkhead/plugin-seccomp';

export { defaultProfile } from './default-profile.js';
export { CompileCache } from './cache.js';
export { compileProfile, profileArches, profilePseudoCode, ruleApplies, type CompileContext, type CompiledProfile } from './compile.js';
export type { LinuxSeccomp, LinuxSyscall, LinuxSeccompArg, LinuxSeccompArchMap, LinuxSeccompFilter } from './profile.js';

export interface SeccompPluginOptions {
  /**
   * The filter for a spec without linux.seccomp: 'none' (the runtime-spec's meaning: no filter)
   * or 'default', bulkhead's built-in profile (`defaultProfile()`).
   */
  whenAbsent?: 'none' | 'default';
  /**
   * A directory for compiled programs, so that later processes skip libseccomp (50 to 65 ms for
   * the default profile on a 2-core VM). Created with mode 0700, and ignored unless this user owns
   * it and no one else can write it. Without it, compiled programs are kept in memory only.
   */
  cacheDir?: string;
}

/** Requirements of each filter flag: the libseccomp API level or the kernel release that added it. */
const FLAG_REQUIREMENTS: Record<string, { api?: number; kernel?: string }> = {
  SECCOMP_FILTER_FLAG_LOG: { api: 3 },
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: { api: 4 },
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: { kernel: '5.19' },
};

/**
 * linux.seccomp: compiles the profile to BPF with libseccomp in the Node process and plans a
 * seccomp step for the init and each exec'd process: the last step before the start barrier
 * with no_new_privs, else before the identity change (see planSeccomp). With SCMP_ACT_NOTIFY
 * rules, the listener fd and the container process state go to the agent at listenerPath, so an
 * agent that is not listening fails the create or exec.
 */
export function seccompPlugin(options: SeccompPluginOptions = {}): Plugin {
  const whenAbsent = options.whenAbsent ?? 'none';
  if (whenAbsent !== 'none' && whenAbsent !== 'default') throw new Error(`${PLUGIN_NAME}: whenAbsent must be 'none' or 'default', not ${JSON.stringify(whenAbsent)}`);
  const profileOf = (spec: ContainerSpec): LinuxSeccomp | undefined => seccompOf(spec) ?? (whenAbsent === 'default' ? defaultProfile() : undefined);
  const cache = new CompileCache(options.cacheDir);
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { fields: ['linux.seccomp'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateSeccomp(validation));
      hooks.plan.tap((plan, container) => planSeccomp(plan, cache, container.spec, profileOf(container.spec)));
      hooks.planExec.tap((plan, container, process) => planSeccomp(plan, cache, container.spec, profileOf(container.spec), inheritFromInit(container, process, ['noNewPrivileges']).noNewPrivileges === true));
      hooks.seccompListener.tapPromise(async (container, listener) => sendToAgent(container, listener, profileOf(container.spec)));
    },
  };
}

function seccompOf(spec: ContainerSpec): LinuxSeccomp | undefined {
  return (spec.linux as { seccomp?: LinuxSeccomp } | undefined)?.seccomp;
}

function validateSeccomp(validation: ValidationContext): void {
  const profile = seccompOf(validation.spec);
  if (profile === undefined) return;
  const before = validation.problems.length;
  validateProfile(validation, profile);
  if (validation.problems.length > before) return;
  warnUnknownNames(validation, profile);
  checkKernelSupport(validation, profile);
}

/** Unknown arch and syscall names are skipped when compiling, with a warning here. */
function warnUnknownNames(validation: ValidationContext, profile: LinuxSeccomp): void {
  (profile.architectures ?? []).forEach((name, i) => {
    if (resolveArch(archName(name)) === undefined) validation.warn(`linux.seccomp.architectures[${i}]`, `libseccomp does not know ${name}; it is skipped`);
  });
  (profile.syscalls ?? []).forEach((rule, i) => {
    rule.names.forEach((name, j) => {
      if (resolveSyscall(name) === undefined) validation.warn(`linux.seccomp.syscalls[${i}].names[${j}]`, `libseccomp does not know the syscall ${name}; its rule is skipped`);
    });
  });
}

/** Rejects actions and flags that this kernel or libseccomp lacks, rather than failing in the container. */
function checkKernelSupport(validation: ValidationContext, profile: LinuxSeccomp): void {
  const available = kernelActions();
  const check = (path: string, action: string) => {
    const kernelName = KERNEL_ACTION_NAMES[action as ActionName];
    if (available.length > 0 && !available.includes(kernelName)) validation.problem(path, `${action} is not supported by this kernel (/proc/sys/kernel/seccomp/actions_avail lacks ${kernelName})`);
  };
  check('linux.seccomp.defaultAction', profile.defaultAction);
  (profile.syscalls ?? []).forEach((rule, i) => check(`linux.seccomp.syscalls[${i}].action`, rule.action));
  (profile.flags ?? []).forEach((flag, i) => {
    const needs = FLAG_REQUIREMENTS[flag];
    if (needs?.api !== undefined && apiLevel() < needs.api) validation.problem(`linux.seccomp.flags[${i}]`, `${flag} needs libseccomp API level ${needs.api}, and this libseccomp and kernel offer ${apiLevel()}`);
    if (needs?.kernel !== undefined && compareKernel(release(), needs.kernel) < 0) validation.problem(`linux.seccomp.flags[${i}]`, `${flag} needs Linux ${needs.kernel} or later, and this kernel is ${release()}`);
  });
  const notifies = (profile.syscalls ?? []).some((rule) => rule.action === 'SCMP_ACT_NOTIFY');
  const tsync = (profile.flags ?? []).indexOf('SECCOMP_FILTER_FLAG_TSYNC');
  if (notifies && tsync >= 0) validation.problem(`linux.seccomp.flags[${tsync}]`, 'SECCOMP_FILTER_FLAG_TSYNC cannot be combined with SCMP_ACT_NOTIFY: the kernel rejects a listener with TSYNC');
}

/** Returns the actions this kernel offers, from /proc/sys/kernel/seccomp/actions_avail (Linux 4.14), or none when unknown. */
function kernelActions(): string[] {
  const path = '/proc/sys/kernel/seccomp/actions_avail';
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split(/\s+/) : [];
}

/**
 * Adds the filter as late as the kernel allows. With no_new_privs it is the last step before the
 * start barrier. Without it, loading a filter needs CAP_SYS_ADMIN, which the privileges phase may
 * drop, so the filter goes at the end of the limits phase, before the identity change. The
 * profile must then allow setgroups, setresuid, capset and prctl, as the default profile does.
 */
function planSeccomp(plan: Plan, cache: CompileCache, spec: ContainerSpec, profile: LinuxSeccomp | undefined, noNewPrivileges = spec.process?.noNewPrivileges === true): void {
  if (profile === undefined) return;
  const compiled = cache.compile(profile, compileContext(spec));
  plan.add(PLUGIN_NAME, noNewPrivileges ? 'seccomp' : 'limits', { op: 'seccomp', filter: compiled.bpf, flags: compiled.flags, listener: compiled.listener });
}

function compileContext(spec: ContainerSpec): CompileContext {
  const capabilities = (spec.process as { capabilities?: { bounding?: string[] } } | undefined)?.capabilities?.bounding ?? [];
  return { capabilities, kernelRelease: release() };
}

/**
 * Sends the container process state and the listener to the agent, as the runtime-spec's
 * "container process state": one connection, the JSON and the fd in the first sendmsg.
 */
function sendToAgent(container: Container, listener: SeccompListener, profile: LinuxSeccomp | undefined): void {
  const listenerPath = profile?.listenerPath;
  if (listenerPath === undefined) {
    throw new BulkheadError(ErrorCode.SPEC_INVALID, 'linux.seccomp: a filter created a notification listener, but listenerPath is not set');
  }
  const state = { ...container.state(), pid: container.pid ?? listener.pid };
  const processState = {
    ociVersion: OCI_VERSION,
    fds: ['seccompFd'],
    pid: listener.pid,
    ...(profile?.listenerMetadata === undefined ? {} : { metadata: profile.listenerMetadata }),
    state,
  };
  try {
    container.syscalls.sendFd(listenerPath, Buffer.from(JSON.stringify(processState)), listener.fd);
  } catch (error) {
    throw new BulkheadError(ErrorCode.SYSCALL_FAILED, `send the seccomp listener to the agent at ${listenerPath}: ${(error as Error).message}; is the agent running?`, { cause: error });
  }
  container.log.debug({ listenerPath, pid: listener.pid }, 'sent seccomp listener to agent');
}
