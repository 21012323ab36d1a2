import { performance } from 'node:perf_hooks';
import test from 'ava';
import { OCI_VERSION, resolveSyscall, Runtime, SpecError, type ContainerSpec } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { compileProfile, defaultProfile, profilePseudoCode, seccompPlugin, type LinuxSeccomp, type LinuxSyscall } from '../src/index.js';

/** Syscalls of Linux 6.6 to 6.13 that libseccomp 2.5 does not know, as an engine profile lists them. */
const NEWER_SYSCALLS = ['statmount', 'listmount', 'lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules', 'mseal', 'setxattrat', 'getxattrat', 'listxattrat', 'removexattrat'];

/** Allow rules for the syscalls the default profile allows unconditionally but socket, in groups of 40. */
function allowGroups(): LinuxSyscall[] {
  const names = [...defaultProfile().syscalls![0]!.names.filter((name) => name !== 'socket'), ...NEWER_SYSCALLS];
  const groups: LinuxSyscall[] = [];
  for (let i = 0; i < names.length; i += 40) groups.push({ names: names.slice(i, i + 40), action: 'SCMP_ACT_ALLOW' });
  return groups;
}

/**
 * Builds a profile in the shape of the container engines' default seccomp.json: archMap, a long
 * allow list, personality and socket argument rules, clone rules selected by caps and arches,
 * and capability-gated groups with minKernel.
 */
function engineProfile(): LinuxSeccomp {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
      { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    ],
    syscalls: [
      ...allowGroups(),
      { names: ['bdflush', 'io_pgetevents', 'kexec_file_load', 'kexec_load', 'migrate_pages', 'move_pages', 'nfsservctl', 'pciconfig_iobase', 'pivot_root', 'sysfs', 'vm86', 'vm86old'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((value): LinuxSyscall => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }] },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
      { names: ['arch_prctl', 'modify_ldt'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32', 'x86'] } },
      { names: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['s390', 's390x'] } },
      { names: ['breakpoint', 'cacheflush', 'set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], includes: { arches: ['s390', 's390x'] }, excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount', 'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare', 'listmount', 'statmount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['reboot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_BOOT'] } },
      { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
      { names: ['delete_module', 'init_module', 'finit_module'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_MODULE'] } },
      { names: ['acct'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_PACCT'] } },
      { names: ['kcmp', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_PTRACE'] } },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
      { names: ['iopl', 'ioperm'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_RAWIO'] } },
      { names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_TIME'] } },
      { names: ['vhangup'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_TTY_CONFIG'] } },
      { names: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_NICE'] } },
      { names: ['syslog'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYSLOG'] } },
      { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_BPF'] } },
      { names: ['perf_event_open'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_PERFMON'] } },
    ],
  };
}

const spec = (seccomp: LinuxSeccomp): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args: ['true'], cwd: '/', env: [] },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], seccomp } as ContainerSpec['linux'],
});

/** Plans the profile through the plugin and returns the warnings' JSON paths and the seccomp step. */
function plan(profile: LinuxSeccomp) {
  const warnings: string[] = [];
  const logger = { warn: (fields: { field: string }) => warnings.push(fields.field), debug() {}, info() {}, error() {}, child: () => logger };
  const steps = new Runtime({ logger: logger as never }).use(namespacesPlugin()).use(seccompPlugin()).describe(spec(profile)).steps();
  return { warnings, step: steps.find((s) => s.step.op === 'seccomp')?.step as { filter: Buffer } | undefined };
}

/** Returns the lines of libseccomp's pseudo code for one syscall on x86_64. */
function ruleOf(pfc: string, syscall: string): string {
  const section = pfc.split('# filter for arch ').find((part) => part.startsWith('x86_64 ')) ?? '';
  const start = section.indexOf(`# filter for syscall "${syscall}"`);
  if (start < 0) return '';
  const next = section.indexOf('# filter for syscall', start + 1);
  return section.slice(start, next < 0 ? undefined : next);
}

const x64 = process.arch === 'x64' ? test : test.skip;

test('engine profile warns about each unknown name', (t) => {
  const profile = engineProfile();
  const names = profile.syscalls!.flatMap((rule) => rule.names);
  t.true(names.length > 400, `${names.length} names`);
  const unknown = profile.syscalls!.flatMap((rule, i) => rule.names.flatMap((name, j) => (resolveSyscall(name) === undefined ? [`linux.seccomp.syscalls[${i}].names[${j}]`] : [])));
  t.true(unknown.length >= NEWER_SYSCALLS.length, 'libseccomp lacks the newest syscalls');
  const { warnings, step } = plan(profile);
  t.deepEqual(warnings, unknown);
  t.not(step, undefined);
  t.is(step!.filter.length % 8, 0);
  t.true(step!.filter.length / 8 <= 4096);
});

x64('engine profile rules follow caps and arches', (t) => {
  const profile = engineProfile();
  const plain = profilePseudoCode(profile, { capabilities: [], kernelRelease: '6.1.0' });
  t.is(ruleOf(plain, 'mount'), '', 'mount without CAP_SYS_ADMIN is the default ENOSYS');
  t.regex(ruleOf(plain, 'arch_prctl'), /action ALLOW;/, 'the amd64 rule applies');
  t.regex(ruleOf(plain, 'clone'), /action ALLOW;/);
  t.regex(ruleOf(plain, 'ptrace'), /action ALLOW;/, 'minKernel 4.8 is met');
  t.regex(ruleOf(plain, 'pivot_root'), /action ERRNO\(1\);/);
  t.regex(ruleOf(plain, 'socket'), /action ERRNO\(22\);/);
  t.regex(plain, /# filter for arch x86 /, 'archMap adds the sub-architectures');
  t.regex(plain, /# filter for arch x32 /);
  t.notRegex(plain, /# filter for arch (aarch64|s390x?) /, 'only the native entry of archMap is used');
  const admin = profilePseudoCode(profile, { capabilities: ['CAP_SYS_ADMIN'], kernelRelease: '6.1.0' });
  t.regex(ruleOf(admin, 'mount'), /action ALLOW;/);
  t.regex(ruleOf(admin, 'clone3'), /action ALLOW;/);
});

test('engine profile compile time', (t) => {
  const profile = engineProfile();
  const context = { capabilities: ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], kernelRelease: '6.1.0' };
  compileProfile(profile, context);
  const rounds = 10;
  const started = performance.now();
  let instructions = 0;
  for (let i = 0; i < rounds; i++) instructions = compileProfile(profile, context).bpf.length / 8;
  const ms = (performance.now() - started) / rounds;
  t.log(`engine profile: ${profile.syscalls!.flatMap((rule) => rule.names).length} names, ${instructions} BPF instructions, ${ms.toFixed(1)} ms per compile`);
  t.true(instructions > 0);
});

test('archMap with architectures is rejected', (t) => {
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86'], archMap: [{ architecture: 'x86_64', subArchitectures: ['SCMP_ARCH_X32'] }] };
  const error = t.throws(() => plan(profile), { instanceOf: SpecError })!;
  t.deepEqual(
    error.problems.map((problem) => problem.path),
    ['linux.seccomp.archMap', 'linux.seccomp.archMap[0].architecture'],
  );
});
