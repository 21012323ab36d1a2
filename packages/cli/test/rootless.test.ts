import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BULKHEAD, bulkhead, fixtures, leftoverCgroups, type Result, rootTest, RUNNING_SECONDS, stateRoot, temporaryDir, uniqueId } from './helpers.js';

/**
 * Containers of a non-root user, and user and time namespaces. The tests create that user
 * themselves, with a subordinate id range of its own in /etc/subuid and /etc/subgid, and remove
 * both when they end.
 */

const SUBORDINATE_COUNT = 65536;
const DAY = 86400;

interface TestUser {
  name: string;
  uid: number;
  gid: number;
  /** First host id of the user's range in /etc/subuid and /etc/subgid. */
  subordinate: number;
  runtimeDir: string;
}

let user: TestUser | undefined;

rootTest.before(() => {
  // A short unique name: useradd allows 32 characters.
  const name = `bh${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  run('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(run('id', [flag, name]).trim())) as [number, number];

  // useradd may have delegated a range already (SUB_UID_COUNT): replace it by one this test picks.
  removeSubordinateLines(name);
  const subordinate = Math.max(freeSubordinateStart('/etc/subuid'), freeSubordinateStart('/etc/subgid'));
  for (const file of ['/etc/subuid', '/etc/subgid']) writeFileSync(file, `${name}:${subordinate}:${SUBORDINATE_COUNT}\n`, { flag: 'a' });

  const runtimeDir = temporaryDir('bulkhead-xdg-');
  chownSync(runtimeDir, uid, gid);
  user = { name, uid, gid, subordinate, runtimeDir };
});

rootTest.after.always(() => {
  if (user === undefined) return;
  removeSubordinateLines(user.name);
  run('userdel', [user.name]);
});

function testUser(): TestUser {
  if (user === undefined) throw new Error('the test user was not created');
  return user;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function removeSubordinateLines(name: string): void {
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith(`${name}:`));
    writeFileSync(file, lines.map((line) => `${line}\n`).join(''));
  }
}

/** Returns the first id after every range in the file, at least 1000000 so that it misses the usual ranges' starts. */
function freeSubordinateStart(file: string): number {
  const ends = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((line) => line.includes(':')).map((line) => Number(line.split(':')[1]) + Number(line.split(':')[2])) : [];
  return Math.max(1_000_000, ...ends.filter(Number.isSafeInteger));
}

/** Runs the bulkhead command line as the test user, with only the environment it needs. */
function asUser(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const { name, runtimeDir } = testUser();
  const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `XDG_RUNTIME_DIR=${runtimeDir}`, 'HOME=/', ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)];
  const child = spawn('runuser', ['-u', name, '--', 'env', '-i', ...env, process.execPath, BULKHEAD, ...args], { cwd: options.cwd ?? '/', stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  // A detached container keeps the command's stdout and stderr open, so after 'exit' only wait
  // briefly for output still in the pipes, as the bulkhead helper does.
  return new Promise((resolve) => child.on('exit', (code, signal) => setTimeout(() => resolve({ code, signal, stdout, stderr }), 50)));
}

/**
 * A bundle on a copy of a fixture root with config.json from `bulkhead spec` and the given
 * changes. The copy stays owned by the host's root, as the fixture is, and readable by the test
 * user. Container root cannot create mount points in it, so `mountPoints` are made here.
 */
async function bundle(fixture: 'busybox' | 'debian', change: (config: Record<string, any>) => void, mountPoints: { directories?: string[]; files?: string[] } = {}): Promise<string> {
  const dir = temporaryDir('bulkhead-rootless-');
  chmodSync(dir, 0o755);
  // cp -a, not cpSync: the Debian root has device nodes, which cpSync cannot copy.
  run('cp', ['-a', (await fixtures())[fixture], join(dir, 'rootfs')]);
  for (const path of mountPoints.directories ?? []) mkdirSync(join(dir, 'rootfs', path));
  for (const path of mountPoints.files ?? []) writeFileSync(join(dir, 'rootfs', path), '');
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.root.readonly = false;
  change(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** Returns the user's own id as container root, then its subordinate range from container id 1 on. */
function rangeMappings(own: number, subordinate: number) {
  return [
    { containerID: 0, hostID: own, size: 1 },
    { containerID: 1, hostID: subordinate, size: SUBORDINATE_COUNT },
  ];
}

function userNamespace(config: Record<string, any>, u: TestUser): void {
  config.linux.namespaces.push({ type: 'user' });
  config.linux.uidMappings = rangeMappings(u.uid, u.subordinate);
  config.linux.gidMappings = rangeMappings(u.gid, u.subordinate);
}

/** Parses uid_map or gid_map text into [containerID, hostID, size] rows. */
function mapRows(text: string): number[][] {
  return text
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number));
}

function uptime(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

rootTest('debian container of a non-root user has mapped ranges and a boottime offset', async (t) => {
  const u = testUser();
  const dir = await bundle('debian', (config) => {
    userNamespace(config, u);
    config.linux.namespaces.push({ type: 'time' });
    config.linux.timeOffsets = { boottime: { secs: 10 * DAY, nanosecs: 0 } };
    config.process.args = ['sh', '-c', 'cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; cat /proc/uptime'];
  });
  const id = uniqueId('deb');
  const before = uptime();
  const result = await asUser(['run', id], { cwd: dir });
  const after = uptime();
  t.is(result.code, 0, result.stderr);

  const [uidMap, gidMap, inside] = result.stdout.split('--\n') as [string, string, string];
  t.deepEqual(mapRows(uidMap), [
    [0, u.uid, 1],
    [1, u.subordinate, SUBORDINATE_COUNT],
  ]);
  t.deepEqual(mapRows(gidMap), [
    [0, u.gid, 1],
    [1, u.subordinate, SUBORDINATE_COUNT],
  ]);
  const boottime = Number(inside.split(' ')[0]);
  t.true(boottime >= before + 10 * DAY, `uptime ${boottime} inside, ${before} on the host before`);
  t.true(boottime <= after + 10 * DAY + 1, `uptime ${boottime} inside, ${after} on the host after`);
  t.true(existsSync(join(u.runtimeDir, 'bulkhead')), 'state lives under XDG_RUNTIME_DIR');
  t.false(existsSync(join(u.runtimeDir, 'bulkhead', id)), 'and run removes it');
});

rootTest('files created in the container belong to the mapped host ids', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    userNamespace(config, u);
    // Relative to the bundle, which is the working directory of `run`.
    config.mounts.push({ destination: '/shared', type: 'bind', source: 'shared', options: ['rbind'] });
    config.process.args = ['sh', '-c', 'touch /shared/by-root && touch /shared/by-root-chowned && chown 1000:1001 /shared/by-root-chowned'];
  }, { directories: ['shared'] });
  const shared = join(dir, 'shared');
  mkdirSync(shared, { mode: 0o755 });
  chownSync(shared, u.uid, u.gid);
  const result = await asUser(['run', uniqueId('files')], { cwd: dir });
  t.is(result.code, 0, result.stderr);

  const byRoot = statSync(join(shared, 'by-root'));
  t.is(byRoot.uid, u.uid, 'container root is the user itself');
  t.is(byRoot.gid, u.gid);
  const chowned = statSync(join(shared, 'by-root-chowned'));
  t.is(chowned.uid, u.subordinate + 999, 'container uid 1000 is the subordinate range from container id 1');
  t.is(chowned.gid, u.subordinate + 1000);
});

rootTest('process user of the spec creates files as its mapped host id', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    userNamespace(config, u);
    config.mounts.push({ destination: '/shared', type: 'bind', source: 'shared', options: ['rbind'] });
    config.process.user = { uid: 1000, gid: 1000 };
    config.process.args = ['touch', '/shared/by-1000'];
  }, { directories: ['shared'] });
  const shared = join(dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const result = await asUser(['run', uniqueId('user1000')], { cwd: dir });
  t.is(result.code, 0, result.stderr);
  const file = statSync(join(shared, 'by-1000'));
  t.is(file.uid, u.subordinate + 999);
  t.is(file.gid, u.subordinate + 999);
});

rootTest('container root cannot write files the host root owns', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    userNamespace(config, u);
    config.mounts.push({ destination: '/host-file', type: 'bind', source: 'host-file', options: ['bind'] });
    config.process.args = ['sh', '-c', 'echo changed > /host-file; echo "file $?"; echo changed > /etc/passwd; echo "passwd $?"; chown 0:0 /host-file; echo "chown $?"'];
  }, { files: ['host-file'] });
  writeFileSync(join(dir, 'host-file'), 'original\n', { mode: 0o644 });
  const result = await asUser(['run', uniqueId('hostfile')], { cwd: dir });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^file [1-9]/m);
  t.regex(result.stdout, /^passwd [1-9]/m, 'the root filesystem copy belongs to the host root');
  t.regex(result.stdout, /^chown [1-9]/m);
  t.regex(result.stderr, /Permission denied/);
  t.is(readFileSync(join(dir, 'host-file'), 'utf8'), 'original\n');
});

rootTest('one id is mapped without helpers and setgroups is denied', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    config.linux.namespaces.push({ type: 'user' });
    config.linux.uidMappings = [{ containerID: 0, hostID: u.uid, size: 1 }];
    config.linux.gidMappings = [{ containerID: 0, hostID: u.gid, size: 1 }];
    // gid 5 (tty) does not exist in a namespace that maps one gid.
    for (const mount of config.mounts) if (mount.type === 'devpts') mount.options = mount.options.filter((o: string) => o !== 'gid=5');
    config.process.args = ['sh', '-c', 'cat /proc/self/uid_map /proc/self/setgroups'];
  });
  const result = await asUser(['run', uniqueId('oneid')], { cwd: dir });
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/)), [[`0`, `${u.uid}`, '1'], ['deny']]);
});

rootTest('bulkhead run of a non-root user maps its delegated range and skips cgroups', async (t) => {
  const u = testUser();
  const { busybox } = await fixtures();
  const rootfs = join(temporaryDir('bulkhead-rootless-run-'), 'rootfs');
  chmodSync(join(rootfs, '..'), 0o755);
  cpSync(busybox, rootfs, { recursive: true, verbatimSymlinks: true });
  const id = uniqueId('flags');
  const result = await asUser(['run', '--id', id, '--rootfs', rootfs, '--', 'cat', '/proc/self/uid_map']);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(mapRows(result.stdout), [
    [0, u.uid, 1],
    [1, u.subordinate, SUBORDINATE_COUNT],
  ]);
  t.regex(result.stderr, /cgroups skipped: cgroup \S+ is not delegated to uid \d+/);
  t.deepEqual(leftoverCgroups(id), []);
});

rootTest('a range not delegated in /etc/subuid is rejected with its mapping', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    userNamespace(config, u);
    config.linux.uidMappings[1].hostID = u.subordinate + SUBORDINATE_COUNT;
  });
  const result = await asUser(['run', uniqueId('undelegated')], { cwd: dir });
  t.is(result.code, 1);
  t.regex(result.stderr, new RegExp(`linux\\.uidMappings\\[1\\]: host uids ${u.subordinate + SUBORDINATE_COUNT}-\\d+ are not delegated to user ${u.name} \\(uid ${u.uid}\\) in /etc/subuid`));
});

rootTest('linux.resources of a non-root user without a delegated cgroup is rejected', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    userNamespace(config, u);
    config.linux.resources = { pids: { limit: 10 } };
  });
  const result = await asUser(['run', uniqueId('resources')], { cwd: dir });
  t.is(result.code, 1);
  t.regex(result.stderr, /linux\.resources: needs a cgroup, but cgroup \S+ is not delegated to uid \d+/);
});

rootTest('a non-root user without XDG_RUNTIME_DIR is told to set it', async (t) => {
  const result = await asUser(['list'], { env: { XDG_RUNTIME_DIR: '' } });
  t.is(result.code, 2);
  t.regex(result.stderr, /XDG_RUNTIME_DIR is not set to an absolute path.*--root/);
});

rootTest('root maps several ranges, seen from the host in /proc/PID/uid_map', async (t) => {
  const dir = await bundle('busybox', (config) => {
    config.linux.namespaces.push({ type: 'user' });
    config.linux.uidMappings = [
      { containerID: 0, hostID: 300000, size: 1000 },
      { containerID: 1000, hostID: 400000, size: 100 },
    ];
    config.linux.gidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
    config.process.args = ['sleep', RUNNING_SECONDS];
  });
  const root = stateRoot();
  const id = uniqueId('rootmaps');
  const created = await bulkhead(['--root', root, 'create', '--bundle', dir, id]);
  t.is(created.code, 0, created.stderr);
  try {
    const pid = JSON.parse((await bulkhead(['--root', root, 'state', id])).stdout).pid as number;
    t.deepEqual(mapRows(readFileSync(`/proc/${pid}/uid_map`, 'utf8')), [
      [0, 300000, 1000],
      [1000, 400000, 100],
    ]);
    t.deepEqual(mapRows(readFileSync(`/proc/${pid}/gid_map`, 'utf8')), [[0, 300000, 65536]]);
    // The status shows host ids: the child became root of its namespace, host uid 300000.
    t.regex(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+300000\s+300000\s+300000\s+300000$/m);
  } finally {
    await bulkhead(['--root', root, 'delete', '--force', id]);
  }
});

rootTest('root container gets monotonic and boottime offsets from the setup stage', async (t) => {
  const dir = await bundle('busybox', (config) => {
    config.linux.namespaces.push({ type: 'time' });
    config.linux.timeOffsets = { monotonic: { secs: 3 * DAY }, boottime: { secs: 5 * DAY, nanosecs: 500 } };
    config.process.args = ['sh', '-c', 'cat /proc/uptime; readlink /proc/self/ns/time'];
  });
  const before = uptime();
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('timens')]);
  const after = uptime();
  t.is(result.code, 0, result.stderr);
  const [uptimeLine, namespace] = result.stdout.trim().split('\n') as [string, string];
  const boottime = Number(uptimeLine.split(' ')[0]);
  t.true(boottime >= before + 5 * DAY && boottime <= after + 5 * DAY + 1, `uptime ${boottime} inside, ${before} to ${after} on the host`);
  t.not(namespace, readlinkSync('/proc/self/ns/time'), 'the container has its own time namespace');
});

rootTest('idmapped bind shows host root files as the container root', async (t) => {
  const dir = await bundle(
    'busybox',
    (config) => {
      config.linux.namespaces.push({ type: 'user' });
      config.linux.uidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      config.linux.gidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      config.mounts.push({ destination: '/idmapped', type: 'bind', source: 'data', options: ['rbind', 'idmap'] }, { destination: '/plain', type: 'bind', source: 'data', options: ['rbind'] });
      config.process.args = ['sh', '-c', 'stat -c %u:%g /idmapped/file /plain/file; echo new > /idmapped/created'];
    },
    { directories: ['idmapped', 'plain'] },
  );
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'file'), 'host\n');
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, uniqueId('idmap')]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.stdout.trim().split('\n'), ['0:0', '65534:65534'], 'through the idmapped mount host root is container root; without it, nobody');
  const created = statSync(join(dir, 'data', 'created'));
  t.is(created.uid, 0, 'container root writes as host root through the idmapped mount');
  t.is(created.gid, 0);
});

rootTest('idmapped mount of a non-root user is rejected naming the requirement', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    userNamespace(config, u);
    config.mounts.push({ destination: '/idmapped', type: 'bind', source: 'rootfs/etc', options: ['rbind', 'idmap'] });
  });
  const result = await asUser(['run', uniqueId('idmapuser')], { cwd: dir });
  t.is(result.code, 1);
  t.regex(result.stderr, /mounts\[\d+\]\.options: idmap needs root: the kernel allows MOUNT_ATTR_IDMAP only with CAP_SYS_ADMIN/);
});

rootTest('OCI lifecycle of a non-root user keeps state under XDG_RUNTIME_DIR', async (t) => {
  const u = testUser();
  const dir = await bundle('busybox', (config) => {
    userNamespace(config, u);
    config.process.args = ['sleep', RUNNING_SECONDS];
  });
  const id = uniqueId('lifecycle');
  const created = await asUser(['create', id], { cwd: dir });
  t.is(created.code, 0, created.stderr);
  t.true(existsSync(join(u.runtimeDir, 'bulkhead', id, 'state.json')));
  const state = JSON.parse((await asUser(['state', id])).stdout) as { status: string; pid: number };
  t.is(state.status, 'created');
  t.regex(readFileSync(`/proc/${state.pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${u.uid}\\s`, 'm'), 'container root is the user on the host');

  t.is((await asUser(['start', id])).code, 0);
  const exec = await asUser(['exec', id, 'cat', '/proc/self/uid_map']);
  t.is(exec.code, 0, exec.stderr);
  t.deepEqual(mapRows(exec.stdout), [
    [0, u.uid, 1],
    [1, u.subordinate, SUBORDINATE_COUNT],
  ]);

  t.is((await asUser(['delete', '--force', id])).code, 0);
  t.false(existsSync(join(u.runtimeDir, 'bulkhead', id)));
});
