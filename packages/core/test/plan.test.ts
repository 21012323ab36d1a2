import test from 'ava';
import { encodePlan, Plan, PHASES, type Step } from '../src/index.js';

test('steps follow phase order with barriers in place', (t) => {
  const plan = new Plan();
  plan.add('p', 'exec', { op: 'exec', file: 'sh', argv: ['sh'], envp: [] });
  plan.add('p', 'host', { op: 'sethostname', name: 'h' });
  plan.add('p', 'filesystem', { op: 'chdir', path: '/' });
  const phases = plan.steps().map((s) => s.phase);
  t.deepEqual(phases, ['barrier', 'filesystem', 'host', 'barrier', 'exec']);
  const barriers = plan.steps().filter((s) => s.step.op === 'barrier').map((s) => (s.step as { barrier: string }).barrier);
  t.deepEqual(barriers, ['attach', 'start']);
});

test('phases keep the kernel order', (t) => {
  t.deepEqual([...PHASES], ['filesystem', 'pivot', 'host', 'limits', 'identity', 'privileges', 'seccomp', 'exec']);
});

test('second plan of one namespace is rejected naming both plugins', (t) => {
  const plan = new Plan();
  plan.namespace('first', 'pid');
  const error = t.throws(() => plan.namespace('second', 'pid'));
  t.regex(error.message, /first and second/);
});

test('encoded plan starts with length, magic and clone flags', (t) => {
  const plan = new Plan();
  plan.namespace('p', 'pid');
  plan.namespace('m', 'mount');
  const bytes = encodePlan(plan);
  t.is(bytes.readUInt32LE(0), bytes.length - 4);
  t.is(bytes.subarray(4, 8).toString(), 'BHP1');
  t.is(bytes.readUInt32LE(8), 1);
  t.is(bytes.readUInt32LE(12), 0x20000000 | 0x20000);
  t.is(bytes.readUInt32LE(16), 0, 'no joins');
  t.is(bytes.readUInt32LE(20), 0, 'no time offsets');
  t.is(bytes.readUInt32LE(24), 2, 'the two barriers');
});

test('joined namespaces are encoded user first and mount last', (t) => {
  const plan = new Plan();
  plan.namespace('a', 'mount', '/proc/1/ns/mnt');
  plan.namespace('b', 'network', '/proc/1/ns/net');
  plan.namespace('c', 'user', '/proc/1/ns/user');
  const bytes = encodePlan(plan);
  t.is(bytes.readUInt32LE(12), 0, 'nothing created');
  t.is(bytes.readUInt32LE(16), 3);
  const types: number[] = [];
  let offset = 20;
  for (let i = 0; i < 3; i++) {
    types.push(bytes.readUInt32LE(offset));
    offset += 8 + bytes.readUInt32LE(offset + 4);
  }
  t.deepEqual(types, [0x10000000, 0x40000000, 0x20000]);
});

test('step encoding carries op, tolerated errnos and typed args', (t) => {
  const plan = new Plan();
  plan.add('p', 'filesystem', { op: 'open-root', path: '/r', slot: 'rootfs' });
  plan.add('p', 'filesystem', { op: 'symlink', linkTarget: 'pts/ptmx', link: { path: '/dev/ptmx', root: 'rootfs' } }, ['EEXIST']);
  const bytes = encodePlan(plan);
  const symlink = bytes.indexOf(Buffer.from('pts/ptmx')) - 4 - 1 - 4 - 4 - 4 - 4;
  // op, tolerated count, EEXIST, arg count, then the first arg's kind
  t.is(bytes.readUInt32LE(symlink), 5);
  t.is(bytes.readUInt32LE(symlink + 4), 1);
  t.is(bytes.readInt32LE(symlink + 8), 17);
  t.is(bytes.readUInt32LE(symlink + 12), 3);
  t.is(String.fromCharCode(bytes[symlink + 16]!), 's');
});

test('terminal, preserve-fds and move-root steps encode as ops 25, 26 and 27', (t) => {
  const ops = (step: Step) => {
    const plan = new Plan();
    plan.add('p', 'filesystem', { op: 'open-root', path: '/r', slot: 'rootfs' });
    plan.add('p', 'host', step);
    const bytes = encodePlan(plan);
    // The step is the last one before the start barrier: op, tolerated count, arg count.
    const start = bytes.length - STEP_BARRIER_BYTES - stepBytes(step);
    return [bytes.readUInt32LE(start), bytes.readUInt32LE(start + 8)];
  };
  t.deepEqual(ops({ op: 'terminal', socket: 4, rows: 24, cols: 80, console: true, uid: 0, gid: 5 }), [25, 6]);
  t.deepEqual(ops({ op: 'preserve-fds', first: 5, count: 2 }), [26, 2]);
  t.deepEqual(ops({ op: 'move-root', slot: 'rootfs' }), [27, 1]);
});

/** A barrier step: op, tolerated count, arg count, then one integer arg (kind byte and i64). */
const STEP_BARRIER_BYTES = 4 + 4 + 4 + 9;
const stepBytes = (step: Step) => 12 + 9 * (step.op === 'terminal' ? 6 : step.op === 'preserve-fds' ? 2 : 1);

test('root slot used before open-root is a plugin bug', (t) => {
  const plan = new Plan();
  plan.add('p', 'filesystem', { op: 'mkdir', target: { path: '/x', root: 'nowhere' }, mode: 0o755 });
  t.throws(() => encodePlan(plan), { message: /before an open-root or open-path step/ });
});

test('strings with NUL bytes are rejected', (t) => {
  const plan = new Plan();
  plan.add('p', 'host', { op: 'sethostname', name: 'a\0b' });
  t.throws(() => encodePlan(plan), { message: /NUL byte/ });
});

test('unknown tolerated errno names are rejected', (t) => {
  const plan = new Plan();
  plan.add('p', 'host', { op: 'sethostname', name: 'a' }, ['ENOTANERRNO']);
  t.throws(() => encodePlan(plan), { message: /unknown errno name ENOTANERRNO/ });
});

test('plan with hundreds of thousands of steps lists them', (t) => {
  const plan = new Plan();
  for (let i = 0; i < 300_000; i++) plan.add('p', 'filesystem', { op: 'chdir', path: '/' });
  t.is(plan.steps().length, 300_002);
});

test('plan larger than the executor accepts is rejected', (t) => {
  const plan = new Plan();
  plan.add('p', 'exec', { op: 'exec', file: 'true', argv: ['true', 'x'.repeat(65 * 1024 * 1024)], envp: [] });
  t.throws(() => encodePlan(plan), { message: /more than the executor's limit of 67108864/ });
});

test('link-up is encoded as op 34 with name, address, prefix and gateway', (t) => {
  const plan = new Plan();
  plan.add('p', 'host', { op: 'link-up', name: 'lo' });
  plan.add('p', 'host', { op: 'link-up', name: 'eth0', address: { ip: '10.1.2.3', prefix: 24 }, gateway: '10.1.2.1' });
  const integer = (value: number) => Buffer.concat([Buffer.from('i'), Buffer.from(new BigInt64Array([BigInt(value)]).buffer)]);
  const header = (name: string) => Buffer.concat([Buffer.from([34, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0x73, name.length, 0, 0, 0]), Buffer.from(name)]);
  const bytes = encodePlan(plan);
  t.true(bytes.includes(Buffer.concat([header('lo'), integer(0), integer(0), integer(0)])));
  t.true(bytes.includes(Buffer.concat([header('eth0'), integer(0x0a010203), integer(24), integer(0x0a010201)])));
});

test('link-up with an invalid address is rejected', (t) => {
  const plan = new Plan();
  plan.add('p', 'host', { op: 'link-up', name: 'eth0', address: { ip: '10.1.2.300', prefix: 24 } });
  t.throws(() => encodePlan(plan), { message: 'invalid IPv4 address "10.1.2.300" in a link-up step' });
});
