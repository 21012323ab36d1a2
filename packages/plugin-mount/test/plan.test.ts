import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Plan, Runtime, SpecError, ValidationContext, type ContainerSpec, type PlannedStep } from '@bulkhead/core';
import { RecordingSyscalls } from '@bulkhead/core/testing';
import { mountPlugin } from '../src/index.js';
import { planSpecDevices, validateDevices } from '../src/spec-devices.js';

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
    ['mount', 'open-path', 'mount', 'open-root', 'pivot-root'],
  );
  t.like(steps[0], { op: 'mount', source: null, target: { path: '/' }, flags: ['MS_REC', 'MS_PRIVATE'] });
  t.like(steps[1], { op: 'open-path', path: '/dev/null', slot: 'dev-null' });
  t.like(steps[2], { op: 'mount', source: rootfs, target: { path: rootfs }, flags: ['MS_BIND', 'MS_REC'] });
});

test('symlinked root path is resolved on the host before binding', (t) => {
  symlinkSync(rootfs, link);
  const steps = mine(runtime().describe(spec({ root: { path: link } })).steps());
  t.like(steps[2], { source: rootfs });
});

test('noPivotRoot moves the root onto / and chroots instead of pivot_root', (t) => {
  const steps = mine(runtime().describe(spec(), { noPivotRoot: true }).steps());
  t.deepEqual(
    steps.map((s) => s.op),
    ['mount', 'open-path', 'mount', 'open-root', 'move-root'],
  );
  t.like(steps[4], { op: 'move-root', slot: 'rootfs' });
});

test('read-only root is remounted after pivot_root', (t) => {
  const steps = mine(runtime().describe(spec({ root: { path: rootfs, readonly: true } })).steps());
  t.like(steps.at(-1), { op: 'mount', target: { path: '/' }, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'] });
});

test('bind mount with ro gets a remount inside the root', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/data', source: '/srv', options: ['rbind', 'ro', 'nosuid'] }] })).steps());
  t.like(steps[4], { op: 'mount', source: '/srv', target: { path: '/data', root: 'rootfs' }, flags: ['MS_BIND', 'MS_REC'], create: 'auto' });
  t.like(steps[5], { op: 'mount', source: null, target: { path: '/data', root: 'rootfs' }, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY', 'MS_NOSUID'] });
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
  t.like(steps[2], { op: 'mount', fstype: 'tmpfs', target: { path: '/run/bulkhead-test/builtin/rootfs' } });
  const usr = steps.find((s) => s.op === 'mount-setattr' && s.target.path === '/usr');
  t.like(usr, { set: ['MOUNT_ATTR_RDONLY', 'MOUNT_ATTR_NOSUID', 'MOUNT_ATTR_NODEV'], recursive: true });
  t.true(steps.some((s) => s.op === 'mount-slot' && s.slot === 'dev-null' && s.target.path === '/etc/shadow'));
});

test('invalid mounts are reported with their paths', (t) => {
  const mounts = [
    { destination: 'relative', type: 'tmpfs' },
    { destination: '/a/../b', type: 'tmpfs' },
    { destination: '/c', options: ['bind'] },
    { destination: '/d' },
    { destination: '/e', type: 'bind', source: '/tmp', options: ['rbind', 'tmpcopyup'] },
    { destination: '/f', type: 'tmpfs', options: ['copy-symlink'] },
  ];
  const error = t.throws(() => runtime().validate(spec({ mounts }))) as SpecError;
  t.deepEqual(
    error.problems.map((p) => `${p.path}: ${p.message}`),
    [
      'mounts[0].destination: must be an absolute path',
      'mounts[1].destination: must not contain ".."',
      'mounts[2].source: is required for a bind mount',
      'mounts[3].type: is required for a mount that is not a bind mount',
      'mounts[4].options: tmpcopyup applies only to a tmpfs mount',
      'mounts[5].options: option copy-symlink is not supported by this runtime',
    ],
  );
});

test('tmpcopyup: open, mount, copy', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'tmpcopyup'] }, { destination: '/tmp', type: 'tmpfs', options: ['tmpcopyup', 'mode=1777'] }] })).steps());
  const target = { path: '/run', root: 'rootfs' };
  const at = steps.findIndex((s) => s.op === 'open-in-root');
  t.deepEqual(steps.slice(at, at + 3), [
    { op: 'open-in-root', target, slot: 'tmpcopyup' },
    { op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: ['MS_NOSUID'], data: null, create: 'directory' },
    { op: 'copy-tree', slot: 'tmpcopyup', target, topMetadata: true },
  ]);
  t.like(steps[at + 5], { op: 'copy-tree', target: { path: '/tmp' }, topMetadata: false }, 'an explicit mode keeps the tmpfs mode');
});

test('tmpcopyup tolerates a missing directory', (t) => {
  const planned = runtime().describe(spec({ mounts: [{ destination: '/run', type: 'tmpfs', options: ['tmpcopyup'] }] })).steps();
  t.deepEqual(planned.find((s) => s.step.op === 'open-in-root')!.tolerate, ['ENOENT']);
});

test('cgroup mounts are left to the cgroup plugin', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] }] })).steps());
  t.false(steps.some((s) => s.op === 'mount' && s.fstype === 'cgroup'));
});

test('missing root directory is a spec problem', (t) => {
  t.throws(() => runtime().validate(spec({ root: { path: '/nonexistent/rootfs' } })), { message: 'root.path: /nonexistent/rootfs: ENOENT' });
});

test('root without a new mount namespace is a spec problem', (t) => {
  t.throws(() => runtime().validate(spec({ linux: { namespaces: [] } })), { message: 'linux.namespaces: a root filesystem and mounts need a new mount namespace' });
});

test('masked paths: opened /dev/null or read-only tmpfs', (t) => {
  const steps = runtime().describe(spec({ linux: { namespaces: [{ type: 'mount' }], maskedPaths: ['/proc/kcore'] } })).steps();
  const masks = steps.filter((s) => (s.step.op === 'mount' || s.step.op === 'mount-slot') && s.step.target.path === '/proc/kcore');
  t.deepEqual(
    masks.map((s) => [s.step.op === 'mount-slot' ? s.step.slot : (s.step as { source: string }).source, s.tolerate]),
    [
      ['dev-null', ['ENOENT', 'ENOTDIR']],
      ['tmpfs', ['ENOENT', 'ENOTDIR']],
    ],
  );
  const tmpfs = masks[1]!.step as { flags: string[]; data: string };
  t.true(tmpfs.flags.includes('MS_RDONLY'), 'the tmpfs mask is read-only');
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

test('recursive options become one recursive mount_setattr', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/data', source: '/srv', options: ['rbind', 'rro', 'rnosuid', 'rnoatime'] }] })).steps());
  const setattr = steps.find((s) => s.op === 'mount-setattr');
  t.like(setattr, { target: { path: '/data', root: 'rootfs' }, set: ['MOUNT_ATTR_RDONLY', 'MOUNT_ATTR_NOSUID', 'MOUNT_ATTR_NOATIME'], clear: ['MOUNT_ATTR__ATIME'], recursive: true });
  t.false(steps.some((s) => s.op === 'mount' && s.flags.includes('MS_REMOUNT')), 'no plain remount without plain flags');
});

test('recursive options without mount_setattr are an error naming the mount', (t) => {
  const syscalls = new RecordingSyscalls();
  syscalls.missingSyscalls.add(442);
  const old = new Runtime({ syscalls, stateRoot: '/run/bulkhead-test' }).use(mountPlugin());
  const error = t.throws(() => old.describe(spec({ mounts: [{ destination: '/data', source: '/srv', options: ['rbind', 'rro'] }] })));
  t.regex(error.message, /mounts\[0\]\.options: options rro need mount_setattr\(2\) \(Linux 5\.12\), which this kernel lacks/);
});

test('procfs and sysfs mount without following symlinks', (t) => {
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777'] },
  ];
  const steps = mine(runtime().describe(spec({ mounts })).steps());
  const byTarget = (path: string) => steps.find((s) => s.op === 'mount' && s.target.path === path) as { nofollow?: boolean; data: string | null };
  t.true(byTarget('/proc').nofollow);
  t.true(byTarget('/sys').nofollow);
  t.is(byTarget('/tmp').nofollow, undefined);
  t.is(byTarget('/tmp').data, 'mode=1777');
});

test('non-recursive propagation and flags of a tmpfs', (t) => {
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/shared', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'relatime', 'rshared', 'size=1m'] }] })).steps());
  const mounts = steps.filter((s) => s.op === 'mount' && s.target.path === '/shared');
  t.like(mounts[0], { fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_NOEXEC', 'MS_RELATIME'], data: 'size=1m' });
  t.like(mounts[1], { source: null, flags: ['MS_SHARED', 'MS_REC'] });
});

test('etc files are bound from the state directory', (t) => {
  const withFiles = new Runtime({ syscalls: new RecordingSyscalls(), stateRoot: '/run/bulkhead-test' }).use(mountPlugin({ etcFiles: { hostname: true, hosts: true, resolvConf: { nameservers: ['192.0.2.53'] } } }));
  const steps = mine(withFiles.describe(spec(), { id: 'files' }).steps());
  const binds = steps.filter((s) => s.op === 'mount' && s.target.path.startsWith('/etc/'));
  t.deepEqual(
    binds.map((s) => [(s as { source: string }).source, s.op === 'mount' ? s.target.path : '', (s as { create: string }).create]),
    [
      ['/run/bulkhead-test/files/etc/hostname', '/etc/hostname', 'file'],
      ['/run/bulkhead-test/files/etc/hosts', '/etc/hosts', 'file'],
      ['/run/bulkhead-test/files/etc/resolv.conf', '/etc/resolv.conf', 'file'],
    ],
  );
});

test('invalid etc files options are rejected', (t) => {
  const error = t.throws(() => mountPlugin({ etcFiles: { hosts: { entries: [{ name: 'a b', address: 'nowhere' }] }, resolvConf: { nameservers: ['x'], search: ['a#b'] } } }));
  t.is(
    error.message,
    '@bulkhead/plugin-mount: invalid options: etcFiles.hosts.entries[0].name: "a b" is not a host name; etcFiles.hosts.entries[0].address: "nowhere" is not an IP address; etcFiles.resolvConf.nameservers[0]: "x" is not an IP address; etcFiles.resolvConf.search[0]: "a#b" must be one word without \'#\' or \';\'',
  );
});

test('overlay root mounts the image as lower layer', (t) => {
  const overlay = new Runtime({ syscalls: new RecordingSyscalls(), stateRoot: '/run/bulkhead-test' }).use(mountPlugin({ overlay: {} }));
  const steps = mine(overlay.describe(spec(), { id: 'layered' }).steps());
  t.like(steps[2], {
    op: 'mount',
    source: 'overlay',
    fstype: 'overlay',
    target: { path: '/run/bulkhead-test/layered/rootfs' },
    data: `lowerdir=${rootfs},upperdir=/run/bulkhead-test/.overlay/layered/upper,workdir=/run/bulkhead-test/.overlay/layered/work`,
  });
  t.like(steps[3], { op: 'open-root', path: '/run/bulkhead-test/layered/rootfs' });
});

test('overlay root without root.path is a spec problem', (t) => {
  const overlay = new Runtime({ syscalls: new RecordingSyscalls(), stateRoot: '/run/bulkhead-test' }).use(mountPlugin({ overlay: {} }));
  const { root: _root, ...noRoot } = spec();
  t.throws(() => overlay.validate(noRoot), { message: 'root: an overlay root needs root.path, the image directory that becomes its lower layer' });
});

test('linux.devices become mknod steps after the default devices', (t) => {
  const devices = [
    { path: '/dev/null', type: 'c' as const, major: 1, minor: 3 },
    { path: '/dev/net/tun', type: 'c' as const, major: 10, minor: 200, fileMode: 0o600, uid: 1000, gid: 5 },
    { path: '/dev/queue', type: 'p' as const },
  ];
  const steps = mine(runtime().describe(spec({ mounts: [{ destination: '/dev', type: 'tmpfs', source: 'tmpfs' }], linux: { namespaces: [{ type: 'mount' }], devices } })).steps());
  t.false(
    steps.some((s) => s.op === 'mount' && s.source === '/dev/null'),
    'the spec device replaces the default bind',
  );
  const nodes = steps.filter((s) => s.op === 'mknod');
  t.deepEqual(nodes, [
    { op: 'mknod', target: { path: '/dev/null', root: 'rootfs' }, type: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
    { op: 'mknod', target: { path: '/dev/net/tun', root: 'rootfs' }, type: 'c', major: 10, minor: 200, mode: 0o600, uid: 1000, gid: 5 },
    { op: 'mknod', target: { path: '/dev/queue', root: 'rootfs' }, type: 'p', major: 0, minor: 0, mode: 0o666, uid: 0, gid: 0 },
  ]);
  t.true(steps.some((s) => s.op === 'mkdir' && s.target.path === '/dev/net'), 'the parent directory is made first');
  t.true(steps.indexOf(nodes[0]!) > steps.findIndex((s) => s.op === 'symlink' && s.link.path === '/dev/fd'));
});

test('invalid linux.devices are reported with their paths', (t) => {
  const devices = [
    { path: 'dev/x', type: 'c', major: 1, minor: 3 },
    { path: '/dev/y', type: 'x' },
    { path: '/dev/z', type: 'b', minor: 1 },
    { path: '/dev/w', type: 'c', major: 1, minor: 2, fileMode: 0o10000, uid: -1 },
  ] as never;
  const error = t.throws(() => runtime().validate(spec({ linux: { namespaces: [{ type: 'mount' }], devices } }))) as SpecError;
  t.deepEqual(
    error.problems.map((p) => `${p.path}: ${p.message}`),
    [
      'linux.devices[0].path: must be an absolute path without ".."',
      'linux.devices[1].type: must be c, u, b or p, not "x"',
      'linux.devices[2].major: is required for a character or block device',
      'linux.devices[3].fileMode: must be an integer from 0 to 4095',
      'linux.devices[3].uid: must be an integer from 0 to 4294967294',
    ],
  );
});

test('devices in a user namespace are bound from the host', (t) => {
  const plan = new Plan();
  planSpecDevices(plan, 'test', [{ path: '/dev/zero', type: 'c', major: 1, minor: 5 }], true);
  t.deepEqual(
    plan.steps().map((s) => s.step).filter((s) => s.op === 'mount'),
    [{ op: 'mount', source: '/dev/zero', target: { path: '/dev/zero', root: 'rootfs' }, fstype: null, flags: ['MS_BIND'], data: null, create: 'file' }],
  );
});

test('devices in a user namespace must match the host node', (t) => {
  const validation = new ValidationContext(spec());
  validateDevices(validation, [{ path: '/dev/zero', type: 'c', major: 1, minor: 5 }, { path: '/dev/null', type: 'c', major: 1, minor: 5 }, { path: '/dev/nonexistent-device', type: 'c', major: 1, minor: 1 }], true);
  t.deepEqual(
    validation.problems.map((p) => `${p.path}: ${p.message}`),
    [
      "linux.devices[1].path: the host's /dev/null is not a c device 1:5, which a user namespace needs to bind it",
      'linux.devices[2].path: /dev/nonexistent-device: ENOENT: in a user namespace a device is bound from the host\'s node at the same path',
    ],
  );
});
