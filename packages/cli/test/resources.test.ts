import { existsSync } from 'node:fs';
import test from 'ava';
import { bulkhead, fixtures, leftoverCgroups, ociBundle, rootTest, stateRoot, temporaryDir, uniqueId } from './helpers.js';

const ID_CG1 = uniqueId('cg1');
const ID_OOM_TEST = uniqueId('oom-test');

rootTest('memory hog is OOM-killed at --memory', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--id', ID_OOM_TEST, '--rootfs', busybox, '--memory', '64M', '--', 'sh', '-c', 'x=$(dd if=/dev/zero bs=1M count=200 2>/dev/null | tr "\\0" a); echo survived']);
  t.is(result.code, 137);
  t.false(result.stdout.includes('survived'));
  t.deepEqual(leftoverCgroups(ID_OOM_TEST), []);
});

rootTest('fork loop stops at --pids-limit', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, '--pids-limit', '8', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait']);
  t.regex(result.stderr, /can't fork: Resource temporarily unavailable/);
});

rootTest('--ulimit sets the rlimit and --cgroupns hides the host cgroups', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, '--ulimit', 'nofile=100:200', '--cgroupns', '--', 'sh', '-c', 'ulimit -n; ulimit -Hn; grep -c ":/$" /proc/self/cgroup; wc -l < /proc/self/cgroup']);
  const [soft, hard, rooted, lines] = result.stdout.trim().split('\n');
  t.is(soft, '100');
  t.is(hard, '200');
  t.is(rooted, lines, 'every hierarchy shows / as the container cgroup');
});

rootTest('raising a hard rlimit names the rlimit', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, '--ulimit', 'nofile=1048576:99999999', 'true']);
  t.is(result.code, 1);
  t.regex(result.stderr, /RLIMIT_NOFILE/);
});

rootTest('a cgroup mount shows the container only its own cgroups, and a deny-all device rule keeps the default devices', async (t) => {
  if (!existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    t.pass('this host has no cgroup v1 memory hierarchy');
    return;
  }
  const id = uniqueId('cgmount');
  // The limit in the container's view, the cgroups below the shown ones (none: the host's others
  // are out of sight), /dev/null and /dev/ptmx usable, and the binds read-only.
  const script = 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; find /sys/fs/cgroup -mindepth 2 -type d | wc -l; echo x > /dev/null && echo null-ok; test -c /dev/ptmx && head -c0 /dev/ptmx && echo ptmx-ok; mkdir /sys/fs/cgroup/memory/x 2>/dev/null || echo read-only';
  const bundle = await ociBundle((config) => {
    config.process.args = ['sh', '-c', script];
    config.process.terminal = false;
    config.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
    config.linux.resources = { memory: { limit: 48 * 1024 * 1024 }, devices: [{ allow: false, access: 'rwm' }] };
  });
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', bundle, id]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.stdout.trim().split('\n'), [String(48 * 1024 * 1024), '0', 'null-ok', 'ptmx-ok', 'read-only']);
  t.deepEqual(leftoverCgroups(id), []);
});

rootTest('created container cgroup is removed by delete from another process', async (t) => {
  const { busybox } = await fixtures();
  const root = stateRoot();
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = temporaryDir('bulkhead-cgroup-bundle-');
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'config.json'), 'utf8'));
  config.root.path = busybox;
  config.linux.resources = { pids: { limit: 20 } };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  t.is((await bulkhead(['--root', root, 'create', '--bundle', dir, ID_CG1])).code, 0);
  t.true(leftoverCgroups(ID_CG1).length > 0, 'cgroup exists while created');
  t.is((await bulkhead(['--root', root, 'delete', ID_CG1])).code, 0);
  t.deepEqual(leftoverCgroups(ID_CG1), []);
});

test('invalid resource flags are usage errors', async (t) => {
  for (const [flag, value, message] of [
    ['--memory', '12X', '--memory: invalid size "12X"'],
    ['--cpus', '-1', '--cpus: must be a positive number'],
    ['--io-read-bps', 'nodevice', '--io-read-bps: expected DEV:RATE'],
    ['--ulimit', 'nofile', '--ulimit: expected TYPE=SOFT[:HARD]'],
  ] as const) {
    const result = await bulkhead(['plan', flag, value, 'true']);
    t.is(result.code, 2, flag);
    t.true(result.stderr.startsWith(`bulkhead: ${message}`), result.stderr);
  }
});
