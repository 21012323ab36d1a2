import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { encodePlan, EXECUTOR_PATH, libc, Plan, probeKernel } from '@bulkhead/core';
import { bulkhead, fixtures, hostMounts, listDir, rootTest, stateRoot, temporaryDir, uniqueId } from './helpers.js';

/** Creates an OCI bundle on a copy of the busybox root, with config.json from `bulkhead spec` and the given changes. */
async function bundle(change: (config: Record<string, any>, rootfs: string) => void = () => {}): Promise<string> {
  const { busybox } = await fixtures();
  const dir = temporaryDir('bulkhead-bundle-');
  cpSync(busybox, join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  change(config, join(dir, 'rootfs'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** Copies the busybox root and lets the caller change the copy. */
async function rootfsCopy(change: (rootfs: string) => void): Promise<string> {
  const { busybox } = await fixtures();
  const rootfs = join(temporaryDir('bulkhead-rootfs-'), 'rootfs');
  cpSync(busybox, rootfs, { recursive: true, verbatimSymlinks: true });
  change(rootfs);
  return rootfs;
}

interface MountEntry {
  options: string[];
  optional: string[];
  fstype: string;
  superOptions: string[];
}

/** Parses /proc/PID/mountinfo by mount point; a later mount on the same point wins, as it hides the earlier one. */
function parseMountinfo(text: string): Map<string, MountEntry> {
  const mounts = new Map<string, MountEntry>();
  for (const line of text.trim().split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    mounts.set(fields[4]!, { options: fields[5]!.split(','), optional: fields.slice(6, separator), fstype: fields[separator + 1]!, superOptions: fields[separator + 3]!.split(',') });
  }
  return mounts;
}

/** Returns the part of a container's output between two marker lines. */
function section(output: string, name: string): string {
  const start = output.indexOf(`---${name}\n`);
  const end = output.indexOf('\n---', start + 1);
  return output.slice(start + name.length + 4, end < 0 ? undefined : end + 1);
}

/** Files a host directory holds, recursively: what a hostile root filesystem must not have changed. */
function hostTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((entry) => `${join(entry.parentPath, entry.name)}:${entry.isDirectory() ? 'dir' : readFileSync(join(entry.parentPath, entry.name), 'utf8')}`).sort();
}

rootTest('OCI mounts get the configured flags, types and propagation', async (t) => {
  const source = temporaryDir('bulkhead-source-');
  writeFileSync(join(source, 'kept'), 'host data');
  const sourceFile = join(temporaryDir('bulkhead-source-'), 'injected');
  writeFileSync(sourceFile, 'file source\n');
  const dir = await bundle((config, rootfs) => {
    mkdirSync(join(rootfs, 'secretdir'));
    writeFileSync(join(rootfs, 'secretdir', 'key'), 'hidden');
    writeFileSync(join(rootfs, 'etc', 'secret'), 'hidden');
    mkdirSync(join(rootfs, 'opt'), { recursive: true });
    config.root.readonly = true;
    config.mounts.push(
      { destination: '/data', type: 'bind', source, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec', 'noatime'] },
      { destination: '/etc/injected', type: 'bind', source: sourceFile, options: ['bind', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=1m', 'uid=1000', 'gid=1000'] },
      { destination: '/fresh/tmp', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777', 'size=512k'] },
      { destination: '/shared', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'shared'] },
      { destination: '/unbindable', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'unbindable'] },
      // A bind of the shared tmpfs joins its peer group; rslave turns it into a receiver of it.
      { destination: '/follower', type: 'bind', source: join(rootfs, 'shared'), options: ['rbind', 'rslave'] },
    );
    config.linux.maskedPaths.push('/etc/secret', '/secretdir');
    config.linux.readonlyPaths.push('/opt');
    config.process.args = [
      'sh',
      '-c',
      [
        'echo ---mountinfo; cat /proc/self/mountinfo',
        'echo ---writes',
        'for p in /data/x /opt/x /rootfile /secretdir/x; do touch $p 2>&1; done',
        'touch /tmp/ok /fresh/tmp/ok && echo tmpfs-writable',
        'echo ---modes; stat -c "%n %a %u %g" /tmp /fresh/tmp',
        'echo ---kinds; [ -f /etc/injected ] && echo injected-file; cat /etc/injected; [ -d /data ] && echo data-directory; cat /data/kept; echo',
        'echo ---masks; wc -c < /etc/secret; ls -A /secretdir | wc -l',
      ].join('; '),
    ];
  });
  const before = hostMounts();
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('flags')]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(hostMounts(), before, 'the host mount table is unchanged');
  t.deepEqual(readdirSync(source), ['kept'], 'no write reached the bind source');

  const mounts = parseMountinfo(section(result.stdout, 'mountinfo'));
  const configured = ['/', '/data', '/etc/injected', '/tmp', '/fresh/tmp', '/shared', '/unbindable', '/follower', '/etc/secret', '/secretdir', '/opt', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue'];
  const devices = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];
  const outsideKernelTrees = [...mounts.keys()].filter((point) => !point.startsWith('/proc') && !point.startsWith('/sys')).sort();
  t.deepEqual(outsideKernelTrees, [...configured, ...devices].sort(), 'exactly the configured mounts');

  t.is(mounts.get('/')!.options[0], 'ro');
  t.deepEqual(mounts.get('/data')!.options, ['ro', 'nosuid', 'nodev', 'noexec', 'noatime']);
  t.is(mounts.get('/etc/injected')!.options[0], 'ro');
  t.like(mounts.get('/tmp'), { fstype: 'tmpfs', options: ['rw', 'nosuid', 'nodev', 'relatime'] });
  t.true(mounts.get('/tmp')!.superOptions.includes('size=1024k'), mounts.get('/tmp')!.superOptions.join(','));
  t.regex(mounts.get('/shared')!.optional.join(' '), /^shared:\d+$/);
  t.deepEqual(mounts.get('/unbindable')!.optional, ['unbindable']);
  const peerGroup = mounts.get('/shared')!.optional[0]!.slice('shared:'.length);
  t.deepEqual(mounts.get('/follower')!.optional, [`master:${peerGroup}`], 'the slave receives from the shared mount');
  t.deepEqual(mounts.get('/tmp')!.optional, [], 'private by default');
  t.like(mounts.get('/secretdir'), { fstype: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'relatime'] });
  t.true(mounts.get('/opt')!.options.includes('ro'));
  t.true(mounts.get('/proc')!.options.includes('noexec'));

  const writes = section(result.stdout, 'writes');
  for (const path of ['/data/x', '/opt/x', '/rootfile', '/secretdir/x']) t.regex(writes, new RegExp(`touch: ${path}: Read-only file system`), `${path} is EROFS`);
  t.regex(writes, /tmpfs-writable/);
  t.is(section(result.stdout, 'modes'), '/tmp 1777 1000 1000\n/fresh/tmp 1777 0 0\n');
  t.is(section(result.stdout, 'kinds'), 'injected-file\nfile source\ndata-directory\nhost data\n');
  t.is(section(result.stdout, 'masks').replace(/ /g, ''), '0\n0\n');
});

rootTest('recursive flags apply to every submount, with mount_setattr', async (t) => {
  const dir = await bundle((config, rootfs) => {
    mkdirSync(join(rootfs, 'inner', 'sub'), { recursive: true });
    config.mounts.push(
      { destination: '/inner/sub', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      { destination: '/rro', type: 'bind', source: join(rootfs, 'inner'), options: ['rbind', 'rro', 'rnosuid'] },
    );
    config.process.args = ['sh', '-c', 'echo ---mountinfo; cat /proc/self/mountinfo; echo ---writes; for p in /rro/x /rro/sub/x; do touch $p 2>&1; done; true'];
  });
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('rro')]);
  if (!probeKernel(libc).syscalls.mount_setattr) {
    t.is(result.code, 1);
    t.regex(result.stderr, /mounts\[\d+\]\.options: options rro, rnosuid need mount_setattr\(2\) \(Linux 5\.12\), which this kernel lacks/);
    return;
  }
  t.is(result.code, 0, result.stderr);
  const mounts = parseMountinfo(section(result.stdout, 'mountinfo'));
  for (const point of ['/rro', '/rro/sub']) t.deepEqual(mounts.get(point)!.options.slice(0, 2), ['ro', 'nosuid'], `${point} is read-only recursively`);
  for (const path of ['/rro/x', '/rro/sub/x']) t.regex(section(result.stdout, 'writes'), new RegExp(`touch: ${path}: Read-only file system`), `${path} is EROFS`);
});

rootTest('linux.devices get their type, numbers, mode and owner', async (t) => {
  const dir = await bundle((config) => {
    config.linux.devices = [
      { path: '/dev/null', type: 'c', major: 1, minor: 3 },
      { path: '/dev/extra/zero', type: 'c', major: 1, minor: 5, fileMode: 0o620, uid: 1000, gid: 5 },
      { path: '/dev/queue', type: 'p', fileMode: 0o600 },
    ];
    config.process.args = ['sh', '-c', 'stat -c "%n %F %t:%T %a %u %g" /dev/null /dev/extra/zero /dev/queue; head -c 4 /dev/extra/zero | wc -c; grep -c " /dev/null " /proc/self/mountinfo; true'];
  });
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('devices')]);
  t.is(result.code, 0, result.stderr);
  t.is(
    result.stdout.replace(/ +/g, ' '),
    ['/dev/null character special file 1:3 666 0 0', '/dev/extra/zero character special file 1:5 620 1000 5', '/dev/queue fifo 0:0 600 0 0', '4', '0', ''].join('\n'),
    'a node, not a bind of the host\'s /dev/null',
  );
});

rootTest('written /etc files follow symlinks only inside the root', async (t) => {
  const host = temporaryDir('bulkhead-host-');
  writeFileSync(join(host, 'resolv.conf'), 'host original\n');
  const rootfs = await rootfsCopy((root) => {
    rmSync(join(root, 'etc', 'resolv.conf'), { force: true });
    symlinkSync(join(host, 'resolv.conf'), join(root, 'etc', 'resolv.conf'));
    rmSync(join(root, 'etc', 'hosts'), { force: true });
    symlinkSync('../run/systemd/resolve/hosts', join(root, 'etc', 'hosts'));
  });
  const before = hostMounts();
  const script = 'cat /etc/resolv.conf /etc/hosts; echo changed > /etc/resolv.conf; echo changed > /etc/hosts';
  const result = await bulkhead(['--root', stateRoot(), 'run', '--rootfs', rootfs, '--hostname', 'box', '--dns', '192.0.2.53', '--etc-hosts', '--', 'sh', '-c', script]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, 'nameserver 192.0.2.53\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbox\n');
  t.deepEqual(hostTree(host), [`${host}/resolv.conf:host original\n`], 'no host file created or written');
  t.is(readFileSync(join(rootfs, host, 'resolv.conf'), 'utf8'), '', 'the absolute symlink target was created inside the root');
  t.is(readFileSync(join(rootfs, 'run', 'systemd', 'resolve', 'hosts'), 'utf8'), '', 'so was the relative one, with its directories');
  t.deepEqual(hostMounts(), before);
});

const hostile: [string, (root: string, host: string) => void, RegExp][] = [
  ['proc as an absolute symlink to a host directory', (root, host) => replaceWithSymlink(join(root, 'proc'), join(host, 'proc')), /mount proc .* on "\/proc".*: ENOENT/],
  ['proc as a symlink to a directory inside the root', (root) => replaceWithSymlink(join(root, 'proc'), 'etc'), /mount proc .*without following symlinks.*: ELOOP: procfs and sysfs mount only on a real directory/],
  ['sys as a symlink to a directory inside the root', (root) => replaceWithSymlink(join(root, 'sys'), 'etc'), /mount sysfs .*: ELOOP/],
  ['dev escaping with dot-dot', (root, host) => replaceWithSymlink(join(root, 'dev'), `../../../../../../../../${host}/dev`), /mount tmpfs .* on "\/dev".*: ENOENT/],
  ['dev as an absolute symlink to a host directory', (root, host) => replaceWithSymlink(join(root, 'dev'), join(host, 'dev')), /mount tmpfs .* on "\/dev".*: ENOENT/],
];

function replaceWithSymlink(path: string, target: string): void {
  rmSync(path, { recursive: true, force: true });
  symlinkSync(target, path);
}

for (const [title, change, error] of hostile) {
  rootTest(`hostile root: ${title}`, async (t) => {
    const host = temporaryDir('bulkhead-host-');
    for (const name of ['proc', 'dev']) mkdirSync(join(host, name));
    const rootfs = await rootfsCopy((root) => change(root, host));
    const root = stateRoot();
    const before = hostMounts();
    const result = await bulkhead(['--root', root, 'run', '--rootfs', rootfs, '--', 'true']);
    t.is(result.code, 1);
    t.regex(result.stderr, error);
    t.deepEqual(hostTree(host), [`${host}/dev:dir`, `${host}/proc:dir`], 'nothing created on the host');
    t.deepEqual(hostMounts(), before, 'nothing mounted on the host');
    t.deepEqual(listDir(root), []);
  });
}

rootTest('hostile root: mount destinations through symlinks stay inside the root', async (t) => {
  const host = temporaryDir('bulkhead-host-');
  mkdirSync(join(host, 'data'));
  const sourceFile = join(temporaryDir('bulkhead-source-'), 'file');
  writeFileSync(sourceFile, 'bound\n');
  const dir = await bundle((config, rootfs) => {
    symlinkSync(join(host, 'data'), join(rootfs, 'data'));
    mkdirSync(join(rootfs, host, 'data'), { recursive: true });
    symlinkSync('../../../../../..' + host, join(rootfs, 'up'));
    config.mounts.push(
      { destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      { destination: '/data/file', type: 'bind', source: sourceFile, options: ['bind'] },
      { destination: '/up/escaped', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
    );
    config.process.args = ['sh', '-c', `echo written > /data/new; cat /data/file; grep -c ' ${host}/' /proc/self/mountinfo`];
  });
  const before = hostMounts();
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('through')]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, 'bound\n3\n', 'three mounts landed under the host path as seen inside the root');
  t.deepEqual(hostTree(host), [`${host}/data:dir`], 'nothing created or written on the host');
  t.true(existsSync(join(dir, 'rootfs', host, 'escaped')), 'the dot-dot destination was created inside the root');
  t.deepEqual(hostMounts(), before);
});

rootTest('tmpcopyup fills the tmpfs with the covered directory, and symlinks stay inside the root', async (t) => {
  const host = temporaryDir('bulkhead-host-');
  writeFileSync(join(host, 'secret'), 'host\n');
  const dir = await bundle((config, rootfs) => {
    mkdirSync(join(rootfs, 'seed', 'sub'), { recursive: true, mode: 0o750 });
    writeFileSync(join(rootfs, 'seed', 'sub', 'file'), 'seeded\n', { mode: 0o640 });
    symlinkSync('/etc/passwd', join(rootfs, 'seed', 'passwd'));
    symlinkSync(host, join(rootfs, 'escape'));
    mkdirSync(join(rootfs, host), { recursive: true });
    writeFileSync(join(rootfs, host, 'inside'), 'inside\n');
    config.mounts.push(
      { destination: '/seed', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'tmpcopyup'] },
      { destination: '/escape', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] },
    );
    config.process.args = ['sh', '-c', 'cat /seed/sub/file; stat -c "%a %F" /seed/sub /seed/sub/file /seed/passwd; echo new > /seed/new && echo writable; ls -A /escape; grep -c " /seed tmpfs " /proc/self/mounts'];
  });
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('copyup')]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.stdout.trim().split('\n'), ['seeded', '750 directory', '640 regular file', '777 symbolic link', 'writable', 'inside', '1']);
  t.false(existsSync(join(dir, 'rootfs', 'seed', 'new')), 'the write went to the tmpfs, not the root filesystem');
  t.deepEqual(hostTree(host), [`${host}/secret:host\n`], 'the host directory behind the symlink was neither read into the tmpfs nor changed');
});

rootTest('dot-dot in a destination is rejected before anything runs', async (t) => {
  const dir = await bundle((config) => config.mounts.push({ destination: '/tmp/../../escape', type: 'tmpfs', source: 'tmpfs' }));
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'run', '--bundle', dir, uniqueId('dotdot')]);
  t.is(result.code, 1);
  t.regex(result.stderr, /mounts\[6\]\.destination: must not contain "\.\."/);
  t.deepEqual(listDir(root), []);
});

rootTest('overlay image serves containers copy-on-write', async (t) => {
  const { busybox } = await fixtures();
  const image = join(temporaryDir('bulkhead-image-'), 'image');
  cpSync(busybox, image, { recursive: true, verbatimSymlinks: true });
  const imageBefore = hostTree(join(image, 'etc'));
  const root = stateRoot();
  const before = hostMounts();

  const first = await bulkhead(['--root', root, 'run', '--image', image, '--', 'sh', '-c', 'echo one > /etc/motd; rm /etc/passwd; cat /etc/motd']);
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, 'one\n');
  const second = await bulkhead(['--root', root, 'run', '--image', image, '--', 'sh', '-c', 'ls /etc/motd 2>&1; [ -f /etc/passwd ] && echo passwd-present']);
  t.regex(second.stdout, /No such file or directory/, "the first container's file is not in the second");
  t.regex(second.stdout, /passwd-present/, 'the second container still has /etc/passwd');
  t.deepEqual(hostTree(join(image, 'etc')), imageBefore, 'the image is unchanged');
  t.deepEqual(readdirSync(join(root, '.overlay')), [], 'upper layers are removed on delete');
  t.deepEqual(hostMounts(), before);

  const id = uniqueId('kept');
  const kept = await bulkhead(['--root', root, 'run', '--id', id, '--image', image, '--keep', '--', 'sh', '-c', 'echo kept > /note']);
  t.is(kept.code, 0, kept.stderr);
  t.is(readFileSync(join(root, '.overlay', id, 'upper', 'note'), 'utf8'), 'kept\n');
  const reused = await bulkhead(['--root', root, 'run', '--id', id, '--image', image, '--', 'true']);
  t.is(reused.code, 1, 'a kept layer is never taken over by another container');
  t.true(existsSync(join(root, '.overlay', id, 'upper', 'note')), 'and the failed create left it alone');
  rmSync(join(root, '.overlay', id), { recursive: true });
});

rootTest('mount policy denies with the mount and the rule', async (t) => {
  const policy = join(temporaryDir('bulkhead-policy-'), 'policy.json');
  writeFileSync(policy, JSON.stringify({ allowedTypes: ['proc', 'tmpfs', 'devpts', 'mqueue', 'sysfs'], maxTmpfsSize: 256 * 1024 * 1024 }));
  const dir = await bundle((config) => config.mounts.push({ destination: '/data', type: 'bind', source: '/usr', options: ['rbind', 'ro'] }));
  const root = stateRoot();
  const result = await bulkhead(['--root', root, '--mount-policy', policy, 'run', '--bundle', dir, uniqueId('denied')]);
  t.is(result.code, 1);
  t.is(result.stderr, 'bulkhead: mounts[6]: denied by mount policy rule allowedTypes: type bind at /data is not one of the allowed types proc, tmpfs, devpts, mqueue, sysfs\n');
  t.deepEqual(listDir(root), []);
});

rootTest('mount policy forces flags and a read-only root', async (t) => {
  const policy = join(temporaryDir('bulkhead-policy-'), 'policy.json');
  writeFileSync(policy, JSON.stringify({ force: { nosuid: true, nodev: true, noexec: true }, readonlyRoot: true }));
  const rootfs = await rootfsCopy(() => {});
  const result = await bulkhead(['--mount-policy', policy, 'run', '--rootfs', rootfs, '--', 'sh', '-c', 'cat /proc/self/mountinfo; echo x > /dev/null && echo null-works; touch /x 2>&1; true']);
  t.is(result.code, 0, result.stderr);
  const mounts = parseMountinfo(result.stdout.slice(0, result.stdout.indexOf('null-works')));
  for (const point of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']) {
    for (const flag of ['nosuid', 'nodev', 'noexec']) t.true(mounts.get(point)!.options.includes(flag), `${point} has ${flag}: ${mounts.get(point)!.options.join(',')}`);
  }
  t.regex(result.stdout, /null-works/, 'the default devices, which are not spec mounts, keep working');
  t.regex(result.stdout, /touch: \/x: Read-only file system/);
});

/**
 * Runs a plan with the executor in a user namespace whose mounts the kernel locked. The outer
 * `unshare -m` mounts a tmpfs with the given options. The inner `unshare -Urm` copies it into a
 * mount namespace owned by a new user namespace.
 */
async function runLockedPlan(plan: Plan, tmpfsOptions: string, mountPoint: string): Promise<{ code: number | null; stdout: string; failed: number[] }> {
  const script = `mount -t tmpfs -o ${tmpfsOptions} tmpfs ${mountPoint} && exec unshare -Urm --propagation private ${EXECUTOR_PATH}`;
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  const sync = child.stdio[3] as Duplex;
  let stdout = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  // The container process holds the pipe too and may outlive the executor: read to the end.
  const ended = new Promise((resolve) => child.stdout!.on('end', resolve));
  const failed: number[] = [];
  let pending = Buffer.alloc(0);
  sync.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 16) {
      const [type, a, b] = [pending.readUInt32LE(0), pending.readInt32LE(4), pending.readInt32LE(8)];
      pending = pending.subarray(16);
      if (type === 2) {
        const release = Buffer.alloc(16);
        release.writeUInt32LE(3, 0);
        release.writeInt32LE(a, 4);
        sync.write(release);
      } else if (type === 4) {
        failed.push(a, b);
      }
    }
  });
  sync.write(encodePlan(plan));
  // The container process is cloned with CLONE_PARENT, so it is this process's child too; its
  // end of the socket closes when it execs or exits.
  await new Promise((resolve) => sync.on('close', resolve));
  const code = await new Promise<number | null>((resolve) => (child.exitCode === null ? child.on('exit', resolve) : resolve(child.exitCode)));
  await ended;
  return { code, stdout, failed };
}

function lockedRemountPlan(source: string, target: string, flags: ('MS_RDONLY' | 'MS_NOSUID')[]): Plan {
  const plan = new Plan();
  plan.add('test', 'filesystem', { op: 'mount', source, target: { path: target }, fstype: null, flags: ['MS_BIND'], data: null, create: 'none' });
  plan.add('test', 'filesystem', { op: 'mount', source: null, target: { path: target }, fstype: null, flags: ['MS_REMOUNT', 'MS_BIND', ...flags], data: null, create: 'none' });
  plan.add('test', 'exec', { op: 'exec', file: '/bin/cat', argv: ['cat', '/proc/self/mountinfo'], envp: [] });
  return plan;
}

rootTest('read-only remount keeps flags locked in a user namespace', async (t) => {
  const source = temporaryDir('bulkhead-locked-');
  const target = temporaryDir('bulkhead-locked-');
  const before = hostMounts();
  const result = await runLockedPlan(lockedRemountPlan(source, target, ['MS_RDONLY']), 'nosuid,nodev,noexec,size=1m', source);
  t.deepEqual(result.failed, [], 'no step failed');
  const mount = parseMountinfo(result.stdout).get(target);
  t.deepEqual(mount?.options.slice(0, 4), ['ro', 'nosuid', 'nodev', 'noexec']);
  t.deepEqual(hostMounts(), before);
});

rootTest('remount that must drop a locked flag fails the step', async (t) => {
  const source = temporaryDir('bulkhead-locked-');
  const target = temporaryDir('bulkhead-locked-');
  // The tmpfs is read-only when locked, so a remount without MS_RDONLY requests a writable mount.
  const result = await runLockedPlan(lockedRemountPlan(source, target, ['MS_NOSUID']), 'ro,nosuid,size=1m', source);
  t.deepEqual(result.failed, [2, 1], 'the remount (step 2, after the attach barrier and the bind) failed with EPERM');
  t.is(result.stdout, '', 'the program never ran');
});
