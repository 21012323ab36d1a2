import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Runtime, SpecError, type ContainerSpec, type PlannedStep } from '@bulkhead/core';
import { RecordingSyscalls } from '@bulkhead/core/testing';
import { mountPlugin } from '../src/index.js';

const runtime = () => new Runtime({ syscalls: new RecordingSyscalls(), stateRoot: '/run/bulkhead-test' }).use(mountPlugin());
const rootfs = mkdtempSync(join(tmpdir(), 'bulkhead-rootfs-'));
const link = join(tmpdir(), `bulkhead-link-${process.pid}`);
process.once('exit', () => {
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(link, { force: true });
});

function spec(extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, root: { path: rootfs }, linux: { namespaces: [{ type: 'mount' }] }, ...extra };
}

const mine = (steps: PlannedStep[]) => steps.filter((s) => s.plugin === '@bulkhead/plugin-mount').map((s) => s.step);

test('root is made private, bound, opened and pivoted into', (t) => {
  const steps = mine(runtime().describe(spec()).steps());
  t.deepEqual(
    steps.map((s) => s.op),
    ['mount', 'mount', 'open-root', 'pivot-root'],
  );
  t.like(steps[0], { op: 'mount', source: null, target: { path: '/' }, flags: ['MS_REC', 'MS_PRIVATE'] });
  t.like(steps[1], { op: 'mount', source: rootfs, target: { path: rootfs }, flags: ['MS_BIND', 'MS_REC'] });
});

test('symlinked root path is resolved on the host before binding', (t) => {
  symlinkSync(rootfs, link);
  const steps = mine(runtime().describe(spec({ root: { path: link } })).steps());
  t.like(steps[1], { source: rootfs });
});

test('noPivotRoot moves the root onto / and chroots instead of pivot_root', (t) => {
  const steps = mine(runtime().describe(spec(), { noPivotRoot: true }).steps());
  t.deepEqual(
    steps.map((s) => s.op),
    ['mount', 'mount', 'open-root', 'move-root'],
  );
  t.like(steps[3], { op: 'move-root', slot: 'rootfs' });
});

test('read-only root is remounted after pivot_root', (t) => {
  const steps = mine(runtime().describe(spec({ root: { path: rootfs, readonly: true } })).steps());
  t.like(steps.at(-1), { op: 'mount', target: { path: '/' }, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'] });
});

test('bind mount with ro gets a remount inside the root', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/data', source: '/srv', options: ['rbind', 'ro', 'nosuid'] }] })).steps());
  t.like(steps[3], { op: 'mount', source: '/srv', target: { path: '/data', root: 'rootfs' }, flags: ['MS_BIND', 'MS_REC'], create: 'auto' });
  t.like(steps[4], { op: 'mount', source: null, target: { path: '/data', root: 'rootfs' }, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY', 'MS_NOSUID'] });
});

test('tmpfs /dev gets the default devices and links', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/dev', type: 'tmpfs', source: 'tmpfs' }] })).steps());
  const binds = steps.filter((s) => s.op === 'mount' && s.flags.includes('MS_BIND') && s.target.root === 'rootfs').map((s) => (s as { source: string }).source);
  t.deepEqual(binds, ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
  t.true(steps.some((s) => s.op === 'symlink' && s.link.path === '/dev/fd'));
  t.false(steps.some((s) => s.op === 'symlink' && s.link.path === '/dev/ptmx'), 'no ptmx link without devpts');
});

test('built-in root binds host directories read-only', (t) => {
  const { root: _root, ...noRoot } = spec();
  const steps = mine(runtime().describe(noRoot, { id: 'builtin' }).steps());
  t.like(steps[1], { op: 'mount', fstype: 'tmpfs', target: { path: '/run/bulkhead-test/builtin' } });
  const usr = steps.find((s) => s.op === 'mount-setattr' && s.target.path === '/usr');
  t.like(usr, { set: ['MOUNT_ATTR_RDONLY', 'MOUNT_ATTR_NOSUID', 'MOUNT_ATTR_NODEV'], recursive: true });
  t.true(steps.some((s) => s.op === 'mount' && s.source === '/dev/null' && s.target.path === '/etc/shadow'));
});

test('invalid mounts are reported with their paths', (t) => {
  const mounts = [
    { destination: 'relative', type: 'tmpfs' },
    { destination: '/a/../b', type: 'tmpfs' },
    { destination: '/c', options: ['bind'] },
    { destination: '/d' },
    { destination: '/e', type: 'tmpfs', options: ['tmpcopyup'] },
  ];
  const error = t.throws(() => runtime().validate(spec({ mounts }))) as SpecError;
  t.deepEqual(
    error.problems.map((p) => `${p.path}: ${p.message}`),
    [
      'mounts[0].destination: must be an absolute path',
      'mounts[1].destination: must not contain ".."',
      'mounts[2].source: is required for a bind mount',
      'mounts[3].type: is required for a mount that is not a bind mount',
      'mounts[4].options: option tmpcopyup is not supported by this runtime',
    ],
  );
});

test('missing root directory is a spec problem', (t) => {
  t.throws(() => runtime().validate(spec({ root: { path: '/nonexistent/rootfs' } })), { message: 'root.path: /nonexistent/rootfs: ENOENT' });
});

test('root without a new mount namespace is a spec problem', (t) => {
  t.throws(() => runtime().validate(spec({ linux: { namespaces: [] } })), { message: 'linux.namespaces: a root filesystem and mounts need a new mount namespace' });
});

test('masked paths get a /dev/null bind and a read-only tmpfs, each tolerating the wrong kind', (t) => {
  const steps = runtime().describe(spec({ linux: { namespaces: [{ type: 'mount' }], maskedPaths: ['/proc/kcore'] } })).steps();
  const masks = steps.filter((s) => s.step.op === 'mount' && s.step.target.path === '/proc/kcore');
  t.deepEqual(
    masks.map((s) => [(s.step as { source: string }).source, s.tolerate]),
    [
      ['/dev/null', ['ENOENT', 'ENOTDIR']],
      ['tmpfs', ['ENOENT', 'ENOTDIR']],
    ],
  );
});

test('read-only paths are bound onto themselves and remounted read-only', (t) => {
  const steps = mine(runtime().describe(spec({ linux: { namespaces: [{ type: 'mount' }], readonlyPaths: ['/proc/sys'] } })).steps());
  const paths = steps.filter((s) => s.op === 'mount' && s.target.path === '/proc/sys');
  t.like(paths[0], { source: null, flags: ['MS_BIND', 'MS_REC'] });
  t.like(paths[1], { source: null, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY', 'MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'] });
});

test('masked paths must be absolute', (t) => {
  t.throws(() => runtime().validate(spec({ linux: { namespaces: [{ type: 'mount' }], maskedPaths: ['proc/kcore'] } })), { message: 'linux.maskedPaths[0]: must be an absolute path' });
});

test('built-in root falls back to a remount without mount_setattr', (t) => {
  const syscalls = new RecordingSyscalls();
  syscalls.missingSyscalls.add(442);
  const { root: _root, ...noRoot } = spec();
  const steps = mine(new Runtime({ syscalls, stateRoot: '/run/bulkhead-test' }).use(mountPlugin()).describe(noRoot, { id: 'old-kernel' }).steps());
  t.false(steps.some((s) => s.op === 'mount-setattr'));
  t.true(steps.some((s) => s.op === 'mount' && s.target.path === '/usr' && s.flags.includes('MS_REMOUNT') && s.flags.includes('MS_RDONLY')));
});
