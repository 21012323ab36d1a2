import test from 'ava';
import { BPF, BPF_DEVCG, compileDeviceFilter, INSN_SIZE } from '../src/device-filter.js';
import { deviceRules, DEFAULT_DEVICE_RULES } from '../src/devices.js';
import type { DeviceRule } from '../src/resources.js';

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

function decode(program: Buffer): Insn[] {
  const insns: Insn[] = [];
  for (let at = 0; at < program.length; at += INSN_SIZE) {
    const regs = program.readUInt8(at + 1);
    insns.push({ code: program.readUInt8(at), dst: regs & 0xf, src: regs >> 4, off: program.readInt16LE(at + 2), imm: program.readInt32LE(at + 4) });
  }
  return insns;
}

const U32 = 0xffffffffn;
const U64 = (1n << 64n) - 1n;

/**
 * Runs a program on a struct bpf_cgroup_dev_ctx, for the instructions the compiler emits. Any
 * other opcode, a jump out of the program or a read of an unset register fails the test, as
 * the verifier would reject the program.
 */
function run(program: Buffer, ctx: { type: number; major: number; minor: number; access: number }): number {
  const insns = decode(program);
  const memory = Buffer.alloc(12);
  memory.writeUInt32LE(((ctx.access << 16) | ctx.type) >>> 0, 0);
  memory.writeUInt32LE(ctx.major, 4);
  memory.writeUInt32LE(ctx.minor, 8);
  const regs: (bigint | undefined)[] = [undefined, 0n];
  const reg = (n: number) => {
    const value = regs[n];
    if (value === undefined) throw new Error(`read of unset register R${n}`);
    return value;
  };
  const imm64 = (imm: number) => BigInt.asUintN(64, BigInt(imm));
  for (let pc = 0, steps = 0; steps < 10_000; steps++) {
    const insn = insns[pc];
    if (insn === undefined) throw new Error(`pc ${pc} is outside the program`);
    pc++;
    switch (insn.code) {
      case BPF.LDX | BPF.MEM | BPF.W:
        if (insn.src !== 1) throw new Error('load from a register other than the context');
        regs[insn.dst] = BigInt(memory.readUInt32LE(insn.off));
        break;
      case BPF.ALU | BPF.AND | BPF.K:
        regs[insn.dst] = (reg(insn.dst) & BigInt(insn.imm >>> 0)) & U32;
        break;
      case BPF.ALU | BPF.RSH | BPF.K:
        regs[insn.dst] = (reg(insn.dst) & U32) >> BigInt(insn.imm);
        break;
      case BPF.ALU64 | BPF.MOV | BPF.K:
        regs[insn.dst] = imm64(insn.imm) & U64;
        break;
      case BPF.JMP | BPF.JA:
        pc += insn.off;
        break;
      case BPF.JMP | BPF.JSET | BPF.K:
        if ((reg(insn.dst) & imm64(insn.imm)) !== 0n) pc += insn.off;
        break;
      case BPF.JMP | BPF.JNE | BPF.K:
        if (reg(insn.dst) !== imm64(insn.imm)) pc += insn.off;
        break;
      case BPF.JMP | BPF.EXIT:
        return Number(reg(0));
      default:
        throw new Error(`unexpected opcode 0x${insn.code.toString(16)} at ${pc - 1}`);
    }
  }
  throw new Error('the program does not end');
}

/** Lists the instructions that no path from the first reaches, which the verifier rejects. */
function unreachable(program: Buffer): number[] {
  const insns = decode(program);
  const seen = new Set<number>();
  const stack = [0];
  while (stack.length > 0) {
    const pc = stack.pop()!;
    if (seen.has(pc) || pc >= insns.length) continue;
    seen.add(pc);
    const { code, off } = insns[pc]!;
    if (code === (BPF.JMP | BPF.EXIT)) continue;
    if (code === (BPF.JMP | BPF.JA)) stack.push(pc + 1 + off);
    else if ((code & 0x07) === BPF.JMP) stack.push(pc + 1, pc + 1 + off);
    else stack.push(pc + 1);
  }
  return insns.map((_, pc) => pc).filter((pc) => !seen.has(pc));
}

const C = BPF_DEVCG.DEV_CHAR;
const B = BPF_DEVCG.DEV_BLOCK;
const bits = (access: string) => (access.includes('m') ? BPF_DEVCG.ACC_MKNOD : 0) | (access.includes('r') ? BPF_DEVCG.ACC_READ : 0) | (access.includes('w') ? BPF_DEVCG.ACC_WRITE : 0);

/** [type, major, minor, requested access, allowed]. */
type Case = [number, number, number, string, boolean];

const DENY_ALL: DeviceRule = { allow: false, access: 'rwm' };

const tables: [string, DeviceRule[], Case[]][] = [
  [
    'deny-all then allow /dev/null',
    [DENY_ALL, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
    [
      [C, 1, 3, 'rw', true],
      [C, 1, 3, 'm', true],
      [C, 1, 5, 'r', false],
      [B, 1, 3, 'r', false],
      [C, 3, 1, 'r', false],
    ],
  ],
  [
    'a wildcard major and minor',
    [DENY_ALL, { allow: true, type: 'c', access: 'r' }, { allow: true, type: 'b', major: 8, access: 'rw' }],
    [
      [C, 4000, 77, 'r', true],
      [C, 1, 3, 'w', false],
      [B, 8, 0, 'rw', true],
      [B, 8, 16, 'w', true],
      [B, 9, 0, 'r', false],
      [B, 8, 1, 'm', false],
    ],
  ],
  [
    'type a matches character and block devices',
    [DENY_ALL, { allow: true, type: 'a', major: 7, access: 'r' }],
    [
      [C, 7, 1, 'r', true],
      [B, 7, 1, 'r', true],
      [B, 8, 1, 'r', false],
    ],
  ],
  [
    'partial access: every requested bit must be allowed',
    [DENY_ALL, { allow: true, type: 'c', major: 1, minor: 3, access: 'r' }],
    [
      [C, 1, 3, 'r', true],
      [C, 1, 3, 'rw', false],
      [C, 1, 3, 'w', false],
    ],
  ],
  [
    'access from two rules adds up',
    [DENY_ALL, { allow: true, type: 'c', major: 1, minor: 3, access: 'r' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'w' }],
    [
      [C, 1, 3, 'rw', true],
      [C, 1, 3, 'm', false],
    ],
  ],
  [
    'a later deny overrides an earlier allow',
    [DENY_ALL, { allow: true, type: 'c', major: 1, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'w' }],
    [
      [C, 1, 5, 'r', true],
      [C, 1, 5, 'rw', false],
      [C, 1, 3, 'rw', true],
    ],
  ],
  [
    'a later allow overrides an earlier deny',
    [{ allow: false, type: 'c', major: 1, minor: 5, access: 'rwm' }, { allow: true, type: 'c', major: 1, access: 'rwm' }],
    [[C, 1, 5, 'rw', true]],
  ],
  [
    'a later deny-all overrides every earlier allow',
    [{ allow: true, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3 }, DENY_ALL],
    [
      [C, 1, 3, 'r', false],
      [B, 8, 0, 'm', false],
    ],
  ],
  [
    'allow-all then a deny',
    [{ allow: true, access: 'rwm' }, { allow: false, type: 'b', access: 'w' }],
    [
      [B, 8, 0, 'r', true],
      [B, 8, 0, 'rw', false],
      [C, 4, 1, 'rwm', true],
    ],
  ],
  [
    'no matching rule: denied',
    [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
    [
      [C, 1, 3, 'rw', true],
      [C, 1, 5, 'r', false],
    ],
  ],
  [
    'an empty access names no bit',
    [{ allow: true, access: '' }],
    [[C, 1, 3, 'r', false]],
  ],
  [
    'a number no device can have matches nothing',
    [DENY_ALL, { allow: true, type: 'c', major: 2 ** 32 - 1, access: 'rwm' }],
    [[C, 1, 3, 'r', false]],
  ],
  [
    'the defaults after a deny-all, as podman sends',
    [...deviceRules([DENY_ALL])],
    [
      [C, 1, 3, 'rw', true],
      [C, 1, 5, 'r', true],
      [C, 1, 8, 'r', true],
      [C, 1, 9, 'r', true],
      [C, 1, 7, 'w', true],
      [C, 5, 0, 'rw', true],
      [C, 5, 2, 'rw', true],
      [C, 136, 4, 'rw', true],
      [C, 10, 200, 'rw', true],
      [C, 1, 4, 'm', true],
      [B, 8, 0, 'm', true],
      [C, 1, 4, 'r', false],
      [C, 1, 11, 'w', false],
      [C, 1, 1, 'rw', false],
      [B, 8, 0, 'r', false],
      [C, 5, 1, 'rw', false],
    ],
  ],
];

for (const [title, rules, cases] of tables) {
  test(`device filter: ${title}`, (t) => {
    const program = compileDeviceFilter(rules);
    t.deepEqual(unreachable(program), []);
    for (const [type, major, minor, access, allowed] of cases) {
      const name = `${type === C ? 'c' : 'b'} ${major}:${minor} ${access}`;
      t.is(run(program, { type, major, minor, access: bits(access) }), allowed ? 1 : 0, name);
    }
  });
}

test('device filter: spec cannot remove defaults', (t) => {
  const program = compileDeviceFilter(deviceRules([DENY_ALL, { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }]));
  t.is(run(program, { type: C, major: 1, minor: 3, access: bits('rw') }), 1);
});

test('device filter: program shape and length', (t) => {
  const program = compileDeviceFilter(deviceRules([DENY_ALL]));
  t.is(program.length % INSN_SIZE, 0);
  t.is(decode(program).at(-1)!.code, BPF.JMP | BPF.EXIT);
  // Three sections of at most 4 tests and an action per rule, and a prologue.
  t.true(program.length / INSN_SIZE <= 6 + 3 * (2 + 5 * (1 + DEFAULT_DEVICE_RULES.length) + 2) + 2);
});

test('device filter: too many rules rejected', (t) => {
  const rules = Array.from({ length: 400 }, (_, minor): DeviceRule => ({ allow: true, type: 'c', major: 1, minor, access: 'rwm' }));
  t.throws(() => compileDeviceFilter(rules), { message: /^linux\.resources\.devices: the 400 rules compile to \d+ BPF instructions, more than the kernel's limit of 4096$/ });
});
