import type { DeviceRule } from './resources.js';

/**
 * Compiles device rules into a BPF_PROG_TYPE_CGROUP_DEVICE program, the cgroup v2 replacement
 * for the v1 devices controller. The kernel runs the program on every open and mknod of a device
 * node by a process in the cgroup, with a struct bpf_cgroup_dev_ctx in R1:
 *
 *   u32 access_type   the requested access bits << 16 | the device type
 *   u32 major
 *   u32 minor
 *
 * and allows the access when the program returns 1.
 *
 * Semantics, as the runtime-spec describes the v1 allowlist: the rules apply in order, a later
 * rule overrides an earlier one for the devices and access bits it names, and what no rule names
 * is denied. The program decides each requested access bit (m, r, w) on its own: the last rule
 * that matches the device and names the bit decides it, and the request is allowed only when
 * every requested bit is. So "allow c 1:3 r" then "allow c 1:3 w" allows "rw" on /dev/null, as
 * v1's merged exceptions do, and "allow a" then "deny c 1:3 w" denies writing /dev/null where
 * the v1 controller would silently keep the wildcard. A rule of type "a" matches both device
 * types and keeps its numbers and access. The v1 controller instead treats any "a" rule as
 * allow-all or deny-all, which is what the usual `{ allow: false, access: "rwm" }` means anyway.
 */

/** The program layout, from linux/bpf.h. */
export const BPF = Object.freeze({
  // Instruction classes.
  LDX: 0x01,
  ALU: 0x04,
  JMP: 0x05,
  ALU64: 0x07,
  // Sizes and modes of loads.
  W: 0x00,
  MEM: 0x60,
  // ALU operations.
  AND: 0x50,
  RSH: 0x70,
  MOV: 0xb0,
  // Jump operations.
  JA: 0x00,
  JSET: 0x40,
  JNE: 0x50,
  EXIT: 0x90,
  // Operand source: an immediate.
  K: 0x00,
  /** BPF_MAXINSNS: the maximum length of an unprivileged program, and of any program before Linux 5.2. */
  MAXINSNS: 4096,
});

/** bpf_cgroup_dev_ctx's device types and access bits. */
export const BPF_DEVCG = Object.freeze({ DEV_BLOCK: 1, DEV_CHAR: 2, ACC_MKNOD: 1, ACC_READ: 2, ACC_WRITE: 4 });

/** The size of one struct bpf_insn. */
export const INSN_SIZE = 8;

/** Registers of the program: R1 points at the context, and R0 is the return value. */
const R0 = 0;
const R1 = 1;
const TYPE = 2;
const ACCESS = 3;
const MAJOR = 4;
const MINOR = 5;

const ACCESS_BITS: readonly [string, number][] = [
  ['m', BPF_DEVCG.ACC_MKNOD],
  ['r', BPF_DEVCG.ACC_READ],
  ['w', BPF_DEVCG.ACC_WRITE],
];

/** The largest number that a 64-bit jump compares without sign extension. Device numbers are far below it. */
const MAX_IMMEDIATE = 0x7fffffff;

/** One instruction. A jump names its target by label until `assemble` turns it into an offset. */
interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  target?: string;
}

/** Collects instructions and labels, and resolves jumps to labels into offsets. */
class Assembler {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();

  emit(code: number, dst: number, imm: number, options: { src?: number; off?: number; target?: string } = {}): void {
    this.insns.push({ code, dst, src: options.src ?? 0, off: options.off ?? 0, imm, ...(options.target === undefined ? {} : { target: options.target }) });
  }

  label(name: string): void {
    this.labels.set(name, this.insns.length);
  }

  /** Encodes every instruction as a little-endian struct bpf_insn. */
  assemble(): Buffer {
    const program = Buffer.alloc(this.insns.length * INSN_SIZE);
    this.insns.forEach((insn, index) => {
      const off = insn.target === undefined ? insn.off : this.offset(insn.target, index);
      const at = index * INSN_SIZE;
      program.writeUInt8(insn.code, at);
      program.writeUInt8((insn.src << 4) | insn.dst, at + 1);
      program.writeInt16LE(off, at + 2);
      program.writeInt32LE(insn.imm, at + 4);
    });
    return program;
  }

  /** Returns a jump's offset, which counts from the instruction after the jump. */
  private offset(label: string, index: number): number {
    const target = this.labels.get(label);
    if (target === undefined) throw new Error(`device filter: jump to undefined label ${label}`);
    return target - index - 1;
  }
}

/** The rule fields the program tests, with absent fields made explicit. */
interface Match {
  allow: boolean;
  /** A BPF_DEVCG_DEV_* type, or undefined for both types. */
  type: number | undefined;
  major: number | undefined;
  minor: number | undefined;
  access: number;
}

function toMatch(rule: DeviceRule): Match {
  const number = (value: number | undefined) => (value === undefined || value === -1 ? undefined : value);
  const types: Record<string, number> = { c: BPF_DEVCG.DEV_CHAR, b: BPF_DEVCG.DEV_BLOCK };
  const type = types[rule.type ?? 'a'];
  let access = 0;
  for (const [letter, bit] of ACCESS_BITS) if ((rule.access ?? 'rwm').includes(letter)) access |= bit;
  return { allow: rule.allow, type, major: number(rule.major), minor: number(rule.minor), access };
}

/** True when the rule names every device of every type, so that nothing before it matters. */
const matchesEveryDevice = (match: Match) => match.type === undefined && match.major === undefined && match.minor === undefined;

/** A number that no device can have (above 2^31 - 1; majors have 12 bits and minors 20) makes a rule that matches nothing. */
const matchesNoDevice = (match: Match) => (match.major ?? 0) > MAX_IMMEDIATE || (match.minor ?? 0) > MAX_IMMEDIATE;

/**
 * Compiles the ordered rules (the spec's, then the defaults, from `deviceRules`) into the
 * program's instructions, 8 bytes each. Layout:
 *
 *   prologue    R2 = type, R3 = access bits, R4 = major, R5 = minor
 *   section m   decides the mknod bit, if requested
 *   section r   decides the read bit, if requested
 *   section w   decides the write bit, if requested
 *   allow       R0 = 1; exit
 *
 * A section either denies (R0 = 0; exit) or falls through to the next section.
 */
export function compileDeviceFilter(rules: readonly DeviceRule[]): Buffer {
  const asm = new Assembler();
  const matches = rules.map(toMatch).filter((match) => !matchesNoDevice(match));
  emitPrologue(asm);
  ACCESS_BITS.forEach(([letter, bit], index) => {
    emitSection(asm, letter, bit, matches, `after-${letter}`);
    asm.label(`after-${letter}`);
    if (index === ACCESS_BITS.length - 1) emitReturn(asm, 1);
  });
  const program = asm.assemble();
  if (program.length / INSN_SIZE > BPF.MAXINSNS) throw new Error(`linux.resources.devices: the ${rules.length} rules compile to ${program.length / INSN_SIZE} BPF instructions, more than the kernel's limit of ${BPF.MAXINSNS}`);
  return program;
}

/** Loads the context's fields into R2 to R5; R1 points at struct bpf_cgroup_dev_ctx. */
function emitPrologue(asm: Assembler): void {
  const load = BPF.LDX | BPF.MEM | BPF.W;
  asm.emit(load, TYPE, 0, { src: R1, off: 0 });
  asm.emit(BPF.ALU | BPF.AND | BPF.K, TYPE, 0xffff);
  asm.emit(load, ACCESS, 0, { src: R1, off: 0 });
  asm.emit(BPF.ALU | BPF.RSH | BPF.K, ACCESS, 16);
  asm.emit(load, MAJOR, 0, { src: R1, off: 4 });
  asm.emit(load, MINOR, 0, { src: R1, off: 8 });
}

/**
 * Decides one access bit. Layout:
 *
 *   if R3 & bit goto +1      requested: decide it
 *   goto next                not requested: nothing to decide
 *   rule n-1 ... rule 0      the rules naming the bit, last first; the first match decides
 *   R0 = 0; exit             no rule matched: deny
 *
 * The walk stops at a rule that matches every device, since the rules before it cannot decide,
 * and the verifier rejects code that no path reaches.
 */
function emitSection(asm: Assembler, letter: string, bit: number, matches: readonly Match[], next: string): void {
  asm.emit(BPF.JMP | BPF.JSET | BPF.K, ACCESS, bit, { off: 1 });
  asm.emit(BPF.JMP | BPF.JA, 0, 0, { target: next });
  const naming = matches.filter((match) => (match.access & bit) !== 0).reverse();
  for (const [index, match] of naming.entries()) {
    if (matchesEveryDevice(match)) {
      // Unconditional: an allow falls through to the next section, a deny returns.
      if (!match.allow) emitReturn(asm, 0);
      return;
    }
    const nextRule = `${letter}-rule-${index + 1}`;
    emitRule(asm, match, nextRule, next);
    asm.label(nextRule);
  }
  emitReturn(asm, 0);
}

/**
 * Emits one rule. Layout:
 *
 *   if R2 != type goto nextRule      only for "c" and "b"
 *   if R4 != major goto nextRule     only when the major is given
 *   if R5 != minor goto nextRule     only when the minor is given
 *   goto next                        allow: the bit is granted
 *   R0 = 0; exit                     deny: the request fails
 */
function emitRule(asm: Assembler, match: Match, nextRule: string, next: string): void {
  const skipUnless = (register: number, value: number | undefined) => {
    if (value !== undefined) asm.emit(BPF.JMP | BPF.JNE | BPF.K, register, value, { target: nextRule });
  };
  skipUnless(TYPE, match.type);
  skipUnless(MAJOR, match.major);
  skipUnless(MINOR, match.minor);
  if (match.allow) asm.emit(BPF.JMP | BPF.JA, 0, 0, { target: next });
  else emitReturn(asm, 0);
}

/** Emits R0 = value; exit. */
function emitReturn(asm: Assembler, value: number): void {
  asm.emit(BPF.ALU64 | BPF.MOV | BPF.K, R0, value);
  asm.emit(BPF.JMP | BPF.EXIT, 0, 0);
}
