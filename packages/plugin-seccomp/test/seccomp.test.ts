import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type TestFn } from 'ava';
import { OCI_VERSION, Runtime, SpecError, type ContainerSpec } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { compileProfile, defaultProfile, PLUGIN_NAME, profilePseudoCode, seccompPlugin, type LinuxSeccomp } from '../src/index.js';

const rootTest: TestFn = process.getuid?.() === 0 ? test : (test.skip as unknown as TestFn);
const context = { capabilities: [], kernelRelease: '6.1.0' };
const namespaces = namespacesPlugin();
const runtime = (options = {}, stateRoot?: string) => new Runtime(stateRoot === undefined ? {} : { stateRoot }).use(namespaces).use(seccompPlugin(options));

const spec = (seccomp?: LinuxSeccomp, args = ['true']): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args, cwd: '/', env: ['PATH=/usr/bin:/bin'] },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], ...(seccomp === undefined ? {} : { seccomp }) } as ContainerSpec['linux'],
});

/** The lines of libseccomp's pseudo code that follow a syscall's heading, up to the next one. */
function ruleOf(pfc: string, arch: string, syscall: string): string {
  const section = pfc.split('# filter for arch ').find((part) => part.startsWith(`${arch} `)) ?? '';
  const start = section.indexOf(`# filter for syscall "${syscall}"`);
  if (start < 0) return '';
  const next = section.indexOf('# filter for syscall', start + 1);
  return section.slice(start, next < 0 ? undefined : next);
}

test('default profile returns EPERM for mount and ENOSYS for clone3', (t) => {
  const pfc = profilePseudoCode(defaultProfile(), context);
  t.regex(ruleOf(pfc, 'x86_64', 'mount'), /action ERRNO\(1\);/);
  // clone3's rule is the default action, ERRNO(ENOSYS), so libseccomp needs no rule for it.
  t.is(ruleOf(pfc, 'x86_64', 'clone3'), '');
  t.regex(ruleOf(pfc, 'x86_64', 'read'), /action ALLOW;/);
  t.regex(pfc, /# default action\s+action ERRNO\(38\);/);
});

test('default profile filters the x86 and x32 entries too', (t) => {
  const pfc = profilePseudoCode(defaultProfile(), context);
  t.regex(ruleOf(pfc, 'x86', 'mount'), /action ERRNO\(1\);/);
  t.regex(ruleOf(pfc, 'x32', 'mount'), /\(1073741989\)[\s\S]*action ERRNO\(1\);/);
});

/** Decodes a classic BPF program into [code, jt, jf, k] tuples. */
function decode(bpf: Buffer): number[][] {
  const instructions: number[][] = [];
  for (let i = 0; i < bpf.length; i += 8) instructions.push([bpf.readUInt16LE(i), bpf[i + 2]!, bpf[i + 3]!, bpf.readUInt32LE(i + 4)]);
  return instructions;
}

test('x32 numbers return ENOSYS when SCMP_ARCH_X32 is not listed', (t) => {
  const program = decode(compileProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }] }, context).bpf);
  // BPF_JMP | BPF_JGE | BPF_K against __X32_SYSCALL_BIT, right after loading the syscall number.
  const check = program.findIndex(([code, , , k]) => code === 0x35 && k === 0x40000000);
  t.true(check > 0);
  t.deepEqual(program[check - 1], [0x20, 0, 0, 0]);
  // Its true branch tests for -1 (a syscall number that tracers set to skip a call), and every
  // other x32 number jumps to RET ERRNO(ENOSYS).
  const [, jt] = program[check]!;
  const minusOne = check + 1 + jt;
  t.deepEqual(program[minusOne]!.slice(0, 1).concat(program[minusOne]![3]!), [0x15, 0xffffffff]);
  t.deepEqual(program[minusOne + 1 + program[minusOne]![2]!], [0x06, 0, 0, 0x50026]);
});

test('clone with namespace flags is refused', (t) => {
  const clone = ruleOf(profilePseudoCode(defaultProfile(), context), 'x86_64', 'clone');
  t.regex(clone, /& 0x10000000 == 268435456\)\n\s+action ERRNO\(1\);/);
  t.regex(clone, /& 0x7e020000 == 0\)\n\s+action ALLOW;/);
});

test('conditions on different args are ANDed', (t) => {
  const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }, { index: 1, value: 1, op: 'SCMP_CMP_EQ' }] }] };
  const rule = ruleOf(profilePseudoCode(profile, context), 'x86_64', 'socket');
  t.regex(rule, /if \(\$a0\.hi32 == 0\)\n\s+if \(\$a0\.lo32 == 40\)\n\s+if \(\$a1\.hi32 == 0\)\n\s+if \(\$a1\.lo32 == 1\)\n\s+action ERRNO\(1\);/);
});

test('conditions on one arg index are ORed', (t) => {
  const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 0, value: 2, op: 'SCMP_CMP_EQ' }] }] };
  const rule = ruleOf(profilePseudoCode(profile, context), 'x86_64', 'personality');
  t.is(rule.match(/action ERRNO\(22\);/g)?.length, 2);
});

test('kill thread and kill process stay distinct', (t) => {
  const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_KILL_THREAD' }, { names: ['umount2'], action: 'SCMP_ACT_KILL_PROCESS' }] };
  const pfc = profilePseudoCode(profile, context);
  t.regex(ruleOf(pfc, 'x86_64', 'mount'), /action KILL;/);
  t.regex(ruleOf(pfc, 'x86_64', 'umount2'), /action KILL_PROCESS;/);
});

test('engine includes and excludes select rules', (t) => {
  const profile: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['read'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['write'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '99.0' } },
    ],
  };
  const plain = profilePseudoCode(profile, context);
  t.is(ruleOf(plain, 'x86_64', 'mount'), '');
  t.not(ruleOf(plain, 'x86_64', 'read'), '');
  t.is(ruleOf(plain, 'x86_64', 'write'), '');
  const admin = profilePseudoCode(profile, { ...context, capabilities: ['CAP_SYS_ADMIN'] });
  t.not(ruleOf(admin, 'x86_64', 'mount'), '');
  t.is(ruleOf(admin, 'x86_64', 'read'), '');
});

test('compiled program is whole BPF instructions', (t) => {
  const compiled = compileProfile({ ...defaultProfile(), flags: ['SECCOMP_FILTER_FLAG_LOG'] }, context);
  t.is(compiled.bpf.length % 8, 0);
  t.true(compiled.bpf.length / 8 <= 4096);
  t.is(compiled.flags, 2);
  t.false(compiled.listener);
  // The first instruction loads seccomp_data.arch (offset 4): BPF_LD | BPF_W | BPF_ABS.
  t.is(compiled.bpf.readUInt16LE(0), 0x20);
  t.is(compiled.bpf.readUInt32LE(4), 4);
});

test('with no_new_privs the seccomp step is the last before the start barrier', (t) => {
  const withNoNewPrivileges = spec(defaultProfile());
  withNoNewPrivileges.process!.noNewPrivileges = true;
  // The capabilities plugin owns the field; a stand-in claims it here.
  const owner = { name: 'no-new-privs', core: '^0.1.0', owns: { fields: ['process.noNewPrivileges'] }, apply() {} };
  const steps = runtime().use(owner).describe(withNoNewPrivileges).steps();
  const index = steps.findIndex((s) => s.plugin === PLUGIN_NAME);
  t.is(steps[index]!.step.op, 'seccomp');
  t.is(steps[index]!.phase, 'seccomp');
  t.deepEqual(steps.slice(index + 1).map((s) => s.step.op), ['barrier', 'exec']);
});

test('without no_new_privs the seccomp step precedes the identity change', (t) => {
  const steps = runtime().describe(spec(defaultProfile())).steps();
  const step = steps.find((s) => s.plugin === PLUGIN_NAME)!;
  t.is(step.phase, 'limits', 'loaded while CAP_SYS_ADMIN is still held');
});

test('no linux.seccomp means no filter unless whenAbsent is default', (t) => {
  t.false(runtime().describe(spec()).steps().some((s) => s.plugin === PLUGIN_NAME));
  t.true(runtime({ whenAbsent: 'default' }).describe(spec()).steps().some((s) => s.plugin === PLUGIN_NAME));
});

test('invalid profiles name the field', (t) => {
  const bad = { defaultAction: 'SCMP_ACT_NOPE', defaultErrnoRet: 1, flags: ['SECCOMP_FILTER_FLAG_NOPE'], listenerMetadata: 'x', syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }, { names: ['mkdir'], action: 'SCMP_ACT_NOTIFY', args: [{ index: 6, value: -1, op: 'SCMP_CMP_XX' }] }, { names: ['sendto'], action: 'SCMP_ACT_NOTIFY' }] } as unknown as LinuxSeccomp;
  const error = t.throws(() => runtime().describe(spec(bad)), { instanceOf: SpecError })!;
  const paths = error.problems.map((p) => p.path);
  for (const path of [
    'linux.seccomp.defaultAction',
    'linux.seccomp.flags[0]',
    'linux.seccomp.listenerMetadata',
    'linux.seccomp.syscalls[0].names',
    'linux.seccomp.syscalls[0].errnoRet',
    'linux.seccomp.syscalls[1].action',
    'linux.seccomp.syscalls[1].args[0].index',
    'linux.seccomp.syscalls[1].args[0].value',
    'linux.seccomp.syscalls[1].args[0].op',
    'linux.seccomp.syscalls[2].names',
  ]) {
    t.true(paths.includes(path), path);
  }
});

test('unknown syscall names warn and are skipped', (t) => {
  const warnings: string[] = [];
  const logger = { warn: (fields: { field: string }) => warnings.push(fields.field), debug() {}, info() {}, error() {}, child() { return logger; } };
  const plan = new Runtime({ logger: logger as never }).use(namespaces).use(seccompPlugin()).describe(spec({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_syscall', 'mount'], action: 'SCMP_ACT_ERRNO' }] }));
  t.deepEqual(warnings, ['linux.seccomp.syscalls[0].names[0]']);
  t.true(plan.steps().some((s) => s.step.op === 'seccomp'));
});

const PROBE = fileURLToPath(new URL('../../test/fixtures/probe.c', import.meta.url));

/** Builds the static probe program into a temporary directory. */
function buildProbe(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-seccomp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const binary = join(dir, 'probe');
  execFileSync('gcc', ['-static', '-O2', '-o', binary, PROBE]);
  return binary;
}

rootTest('default profile blocks through every entry', async (t) => {
  const probe = buildProbe(t);
  const stateRoot = mkdtempSync(join(tmpdir(), 'bulkhead-seccomp-state-'));
  t.teardown(() => rmSync(stateRoot, { recursive: true, force: true }));
  const handle = await runtime({}, stateRoot).create(spec(defaultProfile(), [probe]), { stdio: ['ignore', 'pipe', 'inherit'], dieWithParent: true });
  const status = readFileSync(`/proc/${handle.pid}/status`, 'utf8');
  let output = '';
  handle.stdio[1]!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await handle.start();
  await handle.wait();
  await handle.delete();
  t.regex(status, /^Seccomp:\s+2$/m);
  const errnos = Object.fromEntries(output.trim().split('\n').map((line) => line.split(' ')));
  t.is(errnos.mount, '1');
  t.is(errnos.ptrace, '1');
  t.is(errnos.init_module, '1');
  t.is(errnos.keyctl, '1');
  t.is(errnos.unshare_user, '1');
  t.is(errnos.clone3, '38');
  t.is(errnos.x32_mount, '1');
  t.is(errnos.i386_mount, '1');
  t.is(errnos.i386_getpid, '0');
});
