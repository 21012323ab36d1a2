import { BPF_CONSTANTS, BulkheadError, ErrorCode, SyscallError, type Syscalls } from '@bulkhead/core';
import { compileDeviceFilter } from './device-filter.js';
import type { DeviceRule } from './resources.js';

const { BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI } = BPF_CONSTANTS;

/**
 * The program's license. The kernel asks GPL compatibility only of programs that call GPL-only
 * helpers, and a device program calls no helper at all.
 */
const LICENSE = 'Apache-2.0';

/** Hints for the errno values that have a known cause at a step. */
const HINTS: Record<string, string> = {
  'BPF_PROG_LOAD EPERM': 'loading a BPF program needs CAP_SYS_ADMIN or CAP_BPF, and kernels before 5.11 also charge it to RLIMIT_MEMLOCK',
  'BPF_PROG_ATTACH EPERM': 'attaching a BPF program to a cgroup needs CAP_NET_ADMIN or CAP_SYS_ADMIN',
};

/**
 * Enforces device rules on a cgroup v2 directory: compiles them (see device-filter.ts), loads the
 * program and attaches it to the cgroup with BPF_F_ALLOW_MULTI. Programs that the cgroup had
 * before (an earlier set of rules, at update) are detached only once the new one is attached,
 * so the cgroup is never without a filter. In between, both run, and a device needs both to
 * allow it. The program's and the directory's fds are closed at the end, because the attachment
 * keeps the program loaded until it is detached or the cgroup is removed.
 *
 * Call it before the container's process joins the cgroup.
 */
export function attachDeviceFilter(syscalls: Syscalls, directory: string, rules: readonly DeviceRule[]): void {
  const program = compileDeviceFilter(rules);
  const programFd = step('BPF_PROG_LOAD', () => syscalls.bpfProgLoad(BPF_PROG_TYPE_CGROUP_DEVICE, program, LICENSE));
  try {
    const cgroupFd = step(`open ${directory}`, () => syscalls.openDirectory(directory));
    try {
      replacePrograms(syscalls, cgroupFd, programFd, directory);
    } finally {
      syscalls.close(cgroupFd);
    }
  } finally {
    syscalls.close(programFd);
  }
}

/** Attaches the new program, then detaches every device program that was attached to the cgroup itself before. */
function replacePrograms(syscalls: Syscalls, cgroupFd: number, programFd: number, directory: string): void {
  const previous = step(`BPF_PROG_QUERY of ${directory}`, () => syscalls.bpfProgQuery(cgroupFd, BPF_CGROUP_DEVICE));
  step(`BPF_PROG_ATTACH to ${directory}`, () => syscalls.bpfProgAttach(cgroupFd, programFd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI));
  for (const id of previous) {
    const oldFd = step(`BPF_PROG_GET_FD_BY_ID of program ${id}`, () => syscalls.bpfProgGetFdById(id));
    try {
      step(`BPF_PROG_DETACH of program ${id} from ${directory}`, () => syscalls.bpfProgDetach(cgroupFd, oldFd, BPF_CGROUP_DEVICE));
    } finally {
      syscalls.close(oldFd);
    }
  }
}

/** Runs one step, failing with one line that names linux.resources.devices, the step and the errno. */
function step<T>(name: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof SyscallError)) throw error;
    const hint = HINTS[`${error.syscall} ${error.errnoName}`];
    const detail = error.message.slice(error.message.indexOf(error.errnoName));
    throw new BulkheadError(ErrorCode.SYSCALL_FAILED, `linux.resources.devices: ${name} failed: ${detail}${hint === undefined ? '' : ` (${hint})`}`, { cause: error });
  }
}
