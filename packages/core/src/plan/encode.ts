import { constants } from 'node:os';
import { BulkheadError, ErrorCode } from '../errors.js';
import type { Plan } from './plan.js';
import { BARRIERS, MOUNT_ATTRS, MOUNT_FLAGS, type MountAttr, type MountFlag, type PathArg, type PlannedStep, type Step } from './steps.js';
import { CLONE_FLAGS, orderJoins } from '../namespaces.js';
import type { IdMapping } from '../spec.js';

/** Op numbers of the executor's wire format (packages/core/executor/README.md). */
const OPS: Record<Step['op'], number> = {
  'open-root': 1,
  mount: 2,
  'mount-setattr': 3,
  mkdir: 4,
  symlink: 5,
  'pivot-root': 6,
  sethostname: 7,
  setdomainname: 8,
  chdir: 9,
  barrier: 10,
  exec: 11,
  init: 12,
  'write-file': 13,
  setgroups: 14,
  setresgid: 15,
  setresuid: 16,
  setrlimit: 17,
  prctl: 18,
  umask: 19,
  'open-path': 20,
  'wait-fifo': 21,
  unshare: 22,
  capset: 23,
  seccomp: 24,
  terminal: 25,
  'preserve-fds': 26,
  'move-root': 27,
  'idmap-tree': 28,
  'move-mount': 29,
  'mount-slot': 32,
  mknod: 33,
  'link-up': 34,
  'open-in-root': 36,
  'copy-tree': 37,
};

/** clockid_t values that /proc/PID/timens_offsets takes. */
const CLOCK_IDS = { monotonic: 1, boottime: 7 } as const;

/** File type bits of mknod(2)'s mode, by the OCI device type. */
const NODE_TYPES = { c: 0o020000, b: 0o060000, p: 0o010000 } as const;

/** MOUNT_NOFOLLOW: MOUNT's args, with a target that must be reached without symlinks. */
const OP_MOUNT_NOFOLLOW = 31;

const CREATE = { none: 0, directory: 1, file: 2, auto: 3 } as const;
const AT_RECURSIVE = 0x8000;
/** IDMAP_TREE flags (executor/idmap.c). */
const IDMAP_TREE_RECURSIVE = 1;
const IDMAP_RECURSIVE = 2;
/** The executor keeps this many file descriptor slots. */
const MAX_SLOTS = 16;
/** The largest plan the executor accepts (PLAN_MAX_LENGTH in executor/plan.h). */
const MAX_PLAN_BYTES = 64 * 1024 * 1024;

type Arg = { kind: 'i'; value: number | bigint } | { kind: 's'; value: string | null } | { kind: 'b'; value: Buffer } | { kind: 'v'; value: string[] };

/** Serializes a plan into the executor's binary format, length prefix included. */
export function encodePlan(plan: Plan): Buffer {
  const slots = new SlotTable();
  const writer = new Writer();
  writer.raw(Buffer.from('BHP1'));
  writer.u32(1);
  writer.u32(cloneFlags(plan));

  const joins = orderJoins(plan.namespaces.filter((ns) => ns.path !== undefined));
  writer.u32(joins.length);
  for (const ns of joins) {
    writer.u32(CLONE_FLAGS[ns.type]);
    writer.str(ns.path!);
  }

  writer.u32(plan.timeOffsets.length);
  for (const offset of plan.timeOffsets) {
    writer.u32(CLOCK_IDS[offset.clock]);
    writer.i64(offset.secs);
    writer.i64(offset.nanosecs);
  }

  const steps = plan.steps();
  writer.u32(steps.length);
  for (const planned of steps) encodeStep(writer, planned, slots);

  const body = writer.finish();
  if (body.length > MAX_PLAN_BYTES) {
    throw new BulkheadError(ErrorCode.SPEC_INVALID, `the container's plan is ${body.length} bytes, more than the executor's limit of ${MAX_PLAN_BYTES}: the spec has too many or too large mounts, arguments or environment entries`);
  }
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(body.length);
  return Buffer.concat([prefix, body]);
}

function cloneFlags(plan: Plan): number {
  return plan.namespaces.filter((ns) => ns.path === undefined).reduce((flags, ns) => flags | CLONE_FLAGS[ns.type], 0);
}

function encodeStep(writer: Writer, planned: PlannedStep, slots: SlotTable): void {
  writer.u32(planned.step.op === 'mount' && planned.step.nofollow === true ? OP_MOUNT_NOFOLLOW : OPS[planned.step.op]);
  writer.u32(planned.tolerate.length);
  for (const name of planned.tolerate) writer.i32(errnoNumber(name));
  const args = stepArgs(planned.step, slots);
  writer.u32(args.length);
  for (const arg of args) writer.arg(arg);
}

function stepArgs(step: Step, slots: SlotTable): Arg[] {
  const int = (value: number | bigint): Arg => ({ kind: 'i', value });
  const str = (value: string | null): Arg => ({ kind: 's', value });
  const root = (target: PathArg): Arg => int(target.root === undefined ? -1 : slots.lookup(target.root));
  switch (step.op) {
    case 'open-root':
      return [str(step.path), int(slots.define(step.slot))];
    case 'mount':
      return [str(step.source), str(step.target.path), str(step.fstype), int(mountFlags(step.flags)), str(step.data), root(step.target), int(CREATE[step.create])];
    case 'mount-slot':
      return [int(slots.lookup(step.slot)), str(step.target.path), int(mountFlags(step.flags)), root(step.target), int(CREATE[step.create])];
    case 'mknod':
      return [str(step.target.path), int(NODE_TYPES[step.type] | step.mode), int(step.major), int(step.minor), int(step.uid), int(step.gid), root(step.target)];
    case 'mount-setattr':
      return [str(step.target.path), root(step.target), int(attrs(step.set)), int(attrs(step.clear)), int(step.propagation === null ? 0 : MOUNT_FLAGS[step.propagation]), int(step.recursive ? AT_RECURSIVE : 0)];
    case 'mkdir':
      return [str(step.target.path), int(step.mode), root(step.target)];
    case 'symlink':
      return [str(step.linkTarget), str(step.link.path), root(step.link)];
    case 'pivot-root':
      return [int(slots.lookup(step.slot))];
    case 'sethostname':
    case 'setdomainname':
      return [str(step.name)];
    case 'chdir':
      return [str(step.path)];
    case 'barrier':
      return [int(BARRIERS[step.barrier])];
    case 'exec':
      return [str(step.file), { kind: 'v', value: step.argv }, { kind: 'v', value: step.envp }];
    case 'init':
      return [];
    case 'write-file':
      return [str(step.target.path), { kind: 'b', value: Buffer.from(step.data) }, root(step.target)];
    case 'setgroups':
      return [{ kind: 'b', value: u32Array(step.gids) }];
    case 'setresgid':
      return [int(step.gid)];
    case 'setresuid':
      return [int(step.uid)];
    case 'setrlimit':
      return [int(step.resource), int(step.soft), int(step.hard)];
    case 'prctl':
      return [int(step.option), ...step.args.map(int)];
    case 'umask':
      return [int(step.mask)];
    case 'open-path':
      return [str(step.path), int(slots.define(step.slot))];
    case 'wait-fifo':
      return [int(slots.lookup(step.slot))];
    case 'unshare':
      return [int(step.namespaces.reduce((flags, type) => flags | CLONE_FLAGS[type], 0))];
    case 'seccomp':
      return [{ kind: 'b', value: step.filter }, int(step.flags), int(step.listener ? 1 : 0)];
    case 'capset':
      return [int(step.effective), int(step.permitted), int(step.inheritable)];
    case 'idmap-tree':
      return [str(step.source), int(slots.define(step.slot)), int((step.recursive ? IDMAP_TREE_RECURSIVE : 0) | (step.recursiveIdmap ? IDMAP_RECURSIVE : 0)), { kind: 'b', value: mapTriples(step.uidMappings) }, { kind: 'b', value: mapTriples(step.gidMappings) }];
    case 'move-mount':
      return [int(slots.lookup(step.slot)), str(step.target.path), root(step.target)];
    case 'link-up':
      return [str(step.name), int(step.address === undefined ? 0 : ipv4(step.address.ip)), int(step.address?.prefix ?? 0), int(step.gateway === undefined ? 0 : ipv4(step.gateway))];
    case 'terminal':
      return [int(step.socket), int(step.rows), int(step.cols), int(step.console ? 1 : 0), int(step.uid), int(step.gid)];
    case 'preserve-fds':
      return [int(step.first), int(step.count)];
    case 'move-root':
      return [int(slots.lookup(step.slot))];
    case 'open-in-root':
      return [str(step.target.path), root(step.target), int(slots.define(step.slot))];
    case 'copy-tree':
      return [int(slots.lookup(step.slot)), str(step.target.path), root(step.target), int(step.topMetadata ? 1 : 0)];
  }
}

/** Converts a dotted IPv4 address into the integer the executor takes, in host byte order. */
function ipv4(text: string): number {
  const octets = text.split('.').map(Number);
  if (octets.length !== 4 || octets.some((octet) => !Number.isInteger(octet) || octet < 0 || octet > 255)) {
    throw new BulkheadError(ErrorCode.SPEC_INVALID, `invalid IPv4 address ${JSON.stringify(text)} in a link-up step`);
  }
  return octets.reduce((sum, octet) => sum * 256 + octet, 0);
}

export function mountFlags(flags: readonly MountFlag[]): number {
  return flags.reduce((sum, flag) => sum | MOUNT_FLAGS[flag], 0);
}

function attrs(list: readonly MountAttr[]): number {
  return list.reduce((sum, attr) => sum | MOUNT_ATTRS[attr], 0);
}

function mapTriples(mappings: readonly IdMapping[]): Buffer {
  return u32Array(mappings.flatMap((m) => [m.containerID, m.hostID, m.size]));
}

function u32Array(values: readonly number[]): Buffer {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => buffer.writeUInt32LE(value, i * 4));
  return buffer;
}

function errnoNumber(name: string): number {
  const value = (constants.errno as Record<string, number>)[name];
  if (value === undefined) throw new BulkheadError(ErrorCode.PLUGIN_INVALID, `unknown errno name ${name} in a step's tolerated list`, { expected: false });
  return value;
}

/** Names of file descriptor slots, numbered in the order that open-root and open-path steps define them. */
class SlotTable {
  private readonly names: string[] = [];

  define(name: string): number {
    if (!this.names.includes(name)) this.names.push(name);
    if (this.names.length > MAX_SLOTS) throw new BulkheadError(ErrorCode.PLUGIN_INVALID, `a plan may open at most ${MAX_SLOTS} roots`, { expected: false });
    return this.names.indexOf(name);
  }

  lookup(name: string): number {
    const index = this.names.indexOf(name);
    if (index < 0) throw new BulkheadError(ErrorCode.PLUGIN_INVALID, `step uses slot "${name}" before an open-root or open-path step defines it`, { expected: false });
    return index;
  }
}

/** Little-endian writer of the wire format's primitive fields. */
class Writer {
  private readonly chunks: Buffer[] = [];

  raw(buffer: Buffer): void {
    this.chunks.push(buffer);
  }

  u32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32LE(value >>> 0);
    this.chunks.push(buffer);
  }

  i32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32LE(value);
    this.chunks.push(buffer);
  }

  i64(value: number | bigint): void {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(value));
    this.chunks.push(buffer);
  }

  str(value: string): void {
    if (value.includes('\0')) throw new BulkheadError(ErrorCode.SPEC_INVALID, `string contains a NUL byte: ${JSON.stringify(value)}`);
    this.bytes(Buffer.from(value));
  }

  bytes(value: Buffer): void {
    this.u32(value.length);
    this.chunks.push(value);
  }

  arg(arg: Arg): void {
    if (arg.kind === 's' && arg.value === null) {
      this.raw(Buffer.from('n'));
      return;
    }
    this.raw(Buffer.from(arg.kind));
    switch (arg.kind) {
      case 'i':
        this.i64(arg.value);
        return;
      case 's':
        this.str(arg.value!);
        return;
      case 'b':
        this.bytes(arg.value);
        return;
      case 'v':
        this.u32(arg.value.length);
        for (const item of arg.value) this.str(item);
        return;
    }
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
