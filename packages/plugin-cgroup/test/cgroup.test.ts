import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec } from '@bulkhead/core';
import { cgroupPlugin, cgroupStats, sharesToWeight, type CgroupRecord, type LinuxResources } from '../src/index.js';
import { V2Driver } from '../src/v2.js';
import { FakeFs } from './fake-fs.js';
import { namespacesPlugin, TIME_SCALE } from '@bulkhead/core/testing';

// The pid and mount namespaces, so that the containers of these tests need no other plugin.
const namespaces = namespacesPlugin();

const spec = (args: string[], resources: LinuxResources = {}, extra: { cgroupns?: boolean } = {}): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args, cwd: '/', env: ['PATH=/usr/bin:/bin'] },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, ...(extra.cgroupns ? [{ type: 'cgroup' as const }] : [])], resources: resources as Record<string, unknown> },
});

test('shares convert to weight without overflow', (t) => {
  t.is(sharesToWeight(2), 1);
  t.is(sharesToWeight(1024), 39);
  t.is(sharesToWeight(262144), 10000);
  t.is(sharesToWeight(1), 1);
  t.is(sharesToWeight(Number.MAX_SAFE_INTEGER), 10000);
});

const validation = new Runtime().use(namespaces).use(cgroupPlugin());
const invalid: [string, LinuxResources | { cgroupsPath: string }, string][] = [
  ['negative memory limit', { memory: { limit: -2 } }, 'linux.resources.memory.limit: must be -1 (no limit) or a positive number of bytes'],
  ['swap below memory', { memory: { limit: 100, swap: 50 } }, 'linux.resources.memory.swap: must be -1 or at least memory.limit (100)'],
  ['swap without memory', { memory: { swap: 50 } }, 'linux.resources.memory.swap: needs memory.limit'],
  ['swappiness above 100', { memory: { swappiness: 101 } }, 'linux.resources.memory.swappiness: must be an integer from 0 to 100'],
  ['pids limit below -1', { pids: { limit: -5 } }, 'linux.resources.pids.limit: must be an integer of at least -1'],
  ['short cpu period', { cpu: { period: 10 } }, 'linux.resources.cpu.period: must be an integer from 1000 to 1000000'],
  ['bad cpuset', { cpu: { cpus: '0-a' } }, 'linux.resources.cpu.cpus: must be a list of numbers and ranges'],
  ['blkio weight out of range', { blockIO: { weight: 5 } }, 'linux.resources.blockIO.weight: must be an integer from 10 to 1000'],
  ['throttle without rate', { blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0 } as never] } }, 'linux.resources.blockIO.throttleReadBpsDevice[0].rate: is required'],
  ['bad hugepage size', { hugepageLimits: [{ pageSize: '2M', limit: 0 }] }, 'linux.resources.hugepageLimits[0].pageSize: must be a size such as "2MB"'],
  ['unified path escape', { unified: { '../x.y': '1' } }, 'linux.resources.unified.../x.y: must be a cgroup file name'],
];
for (const [name, resources, message] of invalid) {
  test(`rejects ${name}`, (t) => {
    const error = t.throws(() => validation.validate(spec(['true'], resources as LinuxResources)));
    t.true(error.message.includes(message), error.message);
  });
}

test('rejects cgroupsPath with ..', (t) => {
  const s = spec(['true']);
  s.linux!.cgroupsPath = 'a/../../b';
  t.throws(() => validation.validate(s), { message: /^linux.cgroupsPath: must not contain "." or ".." components/ });
});

test('cgroup namespace is an unshare step in the host phase', (t) => {
  const plan = validation.describe(spec(['true'], {}, { cgroupns: true }));
  t.false(plan.namespaces.some((ns) => ns.type === 'cgroup'));
  t.deepEqual(plan.steps().filter((s) => s.plugin === '@bulkhead/plugin-cgroup').map((s) => [s.phase, s.step]), [['host', { op: 'unshare', namespaces: ['cgroup'] }]]);
});

function v2Driver(): { fs: FakeFs; driver: V2Driver } {
  const fs = new FakeFs(new Map([['/cg', '<dir>'], ['/cg/cgroup.controllers', 'cpu io memory pids'], ['/cg/cgroup.subtree_control', '']]));
  const record: CgroupRecord = { version: 'v2', directories: { unified: '/cg/bulkhead/c1' }, mountpoints: { unified: '/cg' }, created: [] };
  return { fs, driver: new V2Driver(fs, record, () => undefined) };
}

test('v2 driver enables controllers and writes converted limits', (t) => {
  const { fs, driver } = v2Driver();
  driver.create();
  const resources: LinuxResources = {
    cpu: { shares: 1024, quota: 50000, period: 100000 },
    memory: { limit: 64 << 20, swap: 96 << 20, reservation: 32 << 20 },
    pids: { limit: -1 },
    blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 253, minor: 0, rate: 1048576 }] },
    unified: { 'memory.oom.group': '1' },
  };
  t.deepEqual(driver.check({ ...resources, unified: {} }), []);
  driver.apply(resources);
  t.deepEqual(fs.writes, [
    ['/cg/cgroup.subtree_control', '+cpu'],
    ['/cg/cgroup.subtree_control', '+io'],
    ['/cg/cgroup.subtree_control', '+memory'],
    ['/cg/cgroup.subtree_control', '+pids'],
    ['/cg/bulkhead/cgroup.subtree_control', '+cpu'],
    ['/cg/bulkhead/cgroup.subtree_control', '+io'],
    ['/cg/bulkhead/cgroup.subtree_control', '+memory'],
    ['/cg/bulkhead/cgroup.subtree_control', '+pids'],
    ['/cg/bulkhead/c1/cpu.weight', '39'],
    ['/cg/bulkhead/c1/cpu.max', '50000 100000'],
    ['/cg/bulkhead/c1/memory.max', String(64 << 20)],
    ['/cg/bulkhead/c1/memory.low', String(32 << 20)],
    ['/cg/bulkhead/c1/memory.swap.max', String(32 << 20)],
    ['/cg/bulkhead/c1/pids.max', 'max'],
    ['/cg/bulkhead/c1/io.weight', String(1 + Math.floor((490 * 9999) / 990))],
    ['/cg/bulkhead/c1/io.max', '253:0 rbps=1048576'],
    ['/cg/bulkhead/c1/memory.oom.group', '1'],
  ]);
});

test('v2 driver rejects v1-only limits and missing files', (t) => {
  const { driver } = v2Driver();
  driver.create();
  const problems = driver.check({ memory: { swappiness: 10, disableOOMKiller: true }, unified: { 'hugetlb.2MB.max': '0' } });
  t.deepEqual(problems.map((p) => p.path), ['linux.resources.memory.swappiness', 'linux.resources.memory.disableOOMKiller', 'linux.resources.unified.hugetlb.2MB.max']);
  t.regex(problems[0]!.message, /^not supported on cgroup v2/);
});

test('v2 driver destroy removes only what it created', async (t) => {
  const { fs, driver } = v2Driver();
  driver.create();
  await driver.destroy();
  t.false(fs.exists('/cg/bulkhead/c1'));
  t.false(fs.exists('/cg/bulkhead'));
  t.true(fs.exists('/cg'));
});

test('destroy removes the container cgroup even when the record was saved before mkdir', async (t) => {
  // A create killed between mkdir and saving `created` leaves a record that lists nothing.
  const { fs, driver } = v2Driver();
  const saved: CgroupRecord = structuredClone(driver.record);
  driver.create();
  await new V2Driver(fs, saved, () => undefined).destroy();
  t.false(fs.exists('/cg/bulkhead/c1'));
  t.true(fs.exists('/cg/bulkhead'), 'a parent it cannot prove it made is left alone');
});

test('create refuses a container cgroup that appeared after the check', (t) => {
  const { fs, driver } = v2Driver();
  fs.mkdir('/cg/bulkhead');
  fs.mkdir('/cg/bulkhead/c1');
  t.throws(() => driver.create(), { message: /^mkdir \/cg\/bulkhead\/c1: EEXIST/ });
});

test('v2 stats parse the kernel counters', (t) => {
  const { fs, driver } = v2Driver();
  driver.create();
  const dir = '/cg/bulkhead/c1';
  fs.files.set(`${dir}/cpu.stat`, 'usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n');
  fs.files.set(`${dir}/memory.current`, '4096\n');
  fs.files.set(`${dir}/memory.max`, '8192\n');
  fs.files.set(`${dir}/memory.events`, 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
  fs.files.set(`${dir}/pids.current`, '2\n');
  fs.files.set(`${dir}/pids.max`, 'max\n');
  fs.files.set(`${dir}/pids.events`, 'max 4\n');
  fs.files.set(`${dir}/io.stat`, '253:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n');
  const stats = driver.stats();
  t.deepEqual(stats.cpu, { usageNanoseconds: 10000, userNanoseconds: 6000, systemNanoseconds: 4000, periods: 5, throttledPeriods: 2, throttledNanoseconds: 7000 });
  t.like(stats.memory, { usage: 4096, limit: 8192, limitHits: 3, oomKills: 1, swapUsage: undefined });
  t.deepEqual(stats.pids, { current: 2, limit: 'max', limitHits: 4 });
  t.deepEqual(stats.io, { readBytes: 101, writeBytes: 202, readOps: 4, writeOps: 6 });
});

// Real containers on this host's cgroups, as root. Every cgroup is the test's own, under bulkhead/ID.
const rootTest = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') ? test.serial : test.skip;

function runtime(t: { teardown(fn: () => void): void }): Runtime {
  const stateRoot = mkdtempSync(join(tmpdir(), 'bulkhead-cgroup-state-'));
  t.teardown(() => rmSync(stateRoot, { recursive: true, force: true }));
  return new Runtime({ stateRoot }).use(namespaces).use(cgroupPlugin());
}

const MiB = 1024 * 1024;

rootTest('memory limit is in the container cgroup files', async (t) => {
  const handle = await runtime(t).create(spec(['true'], { memory: { limit: 64 * MiB } }), { stdio: 'ignore' });
  const record = handle.container.record('@bulkhead/plugin-cgroup')['cgroup'] as CgroupRecord;
  const memory = Object.entries(record.directories).find(([key]) => key.split(',').includes('memory'))![1];
  t.is(readFileSync(join(memory, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * MiB));
  t.regex(readFileSync(`/proc/${handle.pid}/cgroup`, 'utf8'), new RegExp(`:memory:.*/bulkhead/${handle.container.id}\\n`));
  await handle.delete();
  for (const directory of record.created) t.false(existsSync(directory), directory);
});

rootTest('memory hog is OOM-killed and counted', async (t) => {
  // 200 MiB of output held in a shell variable, under a 64 MiB limit; no swap can absorb it.
  const handle = await runtime(t).create(spec(['sh', '-c', 'x=$(head -c 200M /dev/zero | tr "\\0" a); echo survived'], { memory: { limit: 64 * MiB, swap: 64 * MiB } }), { stdio: 'ignore' });
  const timer = setTimeout(() => handle.kill(9), 60_000 * TIME_SCALE);
  await handle.start();
  const status = await handle.wait();
  clearTimeout(timer);
  const stats = cgroupStats(handle.container);
  await handle.delete();
  t.log(status, stats.memory);
  t.true(stats.memory!.oomKills >= 1);
});

rootTest('pids limit stops a fork loop', async (t) => {
  const handle = await runtime(t).create(spec(['sh', '-c', 'for i in $(seq 1 40); do sleep 3 & done; wait'], { pids: { limit: 8 } }), { stdio: 'ignore' });
  const timer = setTimeout(() => handle.kill(9), 60_000 * TIME_SCALE);
  await handle.start();
  // The loop forks in the time the host gives it: read the counters until the limit was hit or
  // the sleeps ended, whichever comes first.
  let during = cgroupStats(handle.container);
  for (let i = 0; i < 250 * TIME_SCALE && during.pids!.limitHits < 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    during = cgroupStats(handle.container);
  }
  await handle.wait();
  clearTimeout(timer);
  await handle.delete();
  t.true(during.pids!.current <= 8);
  t.is(during.pids!.limit, 8);
  t.true(during.pids!.limitHits >= 1);
});

rootTest('cgroup namespace shows the container cgroup as root', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'bulkhead-cgroupns-')), 'cgroup');
  t.teardown(() => rmSync(join(out, '..'), { recursive: true, force: true }));
  const status = await runtime(t).run(spec(['sh', '-c', `cat /proc/self/cgroup > ${out}`], {}, { cgroupns: true }), { stdio: 'ignore' });
  t.deepEqual(status, { exited: true, code: 0 });
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.true(lines.length > 1);
  for (const line of lines) t.regex(line, /:\/$/);
});

rootTest('blkio weight without BFQ is an error naming the scheduler', async (t) => {
  if (existsSync('/sys/fs/cgroup/blkio/blkio.bfq.weight')) {
    t.pass('this host has BFQ');
    return;
  }
  await t.throwsAsync(runtime(t).run(spec(['true'], { blockIO: { weight: 500 } }), { stdio: 'ignore' }), { message: /linux\.resources\.blockIO\.weight: cannot be enforced on this host: .*BFQ/ });
});
