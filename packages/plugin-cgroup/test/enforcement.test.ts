// Enforcement on this host's real cgroups, as root, on cgroup v1 or v2: each limit is hit by a
// real workload, and the kernel's counters, read through the plugin, report it.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerHandle, type ContainerSpec } from '@bulkhead/core';
import { namespacesPlugin, TIME_SCALE } from '@bulkhead/core/testing';
import { adjustResources, cgroupEvents, cgroupPlugin, cgroupStats, detectLayout, nodeCgroupFs, type CgroupEvent, type CgroupRecord, type LinuxResources } from '../src/index.js';

const layout = process.getuid?.() === 0 ? tryDetect() : undefined;
const rootTest = layout !== undefined ? test.serial : test.skip;
if (layout === undefined) test('enforcement tests are skipped: they need root and a mounted cgroup hierarchy', (t) => t.pass());
// Debian's kernels from 6.12 on have no v1 memory controller, so a v1 layout may lack it.
const hasMemory = layout?.version === 'v2' || (layout?.hierarchies ?? []).some((hierarchy) => hierarchy.controllers.includes('memory'));
const memoryTest = hasMemory ? rootTest : test.skip;
if (layout !== undefined && !hasMemory) test('memory enforcement tests are skipped: no memory controller is mounted on cgroup v1', (t) => t.pass());

function tryDetect() {
  try {
    return detectLayout(nodeCgroupFs);
  } catch {
    return undefined;
  }
}

const MiB = 1024 * 1024;
const namespaces = namespacesPlugin();

/** Ids unique to this test process: cgroup paths are global to the host. */
const uniqueId = (name: string) => `${name}-${process.pid}`;

const spec = (args: string[], resources: LinuxResources): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args, cwd: '/', env: ['PATH=/usr/bin:/bin'] },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], resources: resources as Record<string, unknown> },
});

function runtime(t: { teardown(fn: () => void): void }): Runtime {
  const stateRoot = mkdtempSync(join(tmpdir(), 'bulkhead-enforcement-state-'));
  t.teardown(() => rmSync(stateRoot, { recursive: true, force: true }));
  return new Runtime({ stateRoot }).use(namespaces).use(cgroupPlugin());
}

/** Creates a container that is deleted when the test ends, also after a failed assertion. */
async function create(t: { teardown(fn: () => Promise<void>): void }, rt: Runtime, containerSpec: ContainerSpec, name: string): Promise<ContainerHandle> {
  const handle = await rt.create(containerSpec, { id: uniqueId(name), stdio: 'ignore' });
  t.teardown(() => handle.delete());
  return handle;
}

function record(handle: ContainerHandle): CgroupRecord {
  return handle.container.record('@bulkhead/plugin-cgroup')['cgroup'] as CgroupRecord;
}

/** Returns the container's directory that contains a controller's files: its v1 hierarchy, or the v2 directory. */
function directoryOf(handle: ContainerHandle, controller: string): string {
  const { directories, version } = record(handle);
  if (version === 'v2') return directories['unified']!;
  return Object.entries(directories).find(([key]) => key !== 'unified' && key.split(',').includes(controller))![1];
}

/** Deletes the container and checks that none of its cgroup directories is left. */
async function deleteAndCheck(t: { false(value: boolean, message?: string): void }, handle: ContainerHandle): Promise<void> {
  const { directories, created } = record(handle);
  await handle.delete();
  for (const directory of new Set([...Object.values(directories), ...created])) t.false(existsSync(directory), `${directory} is left after delete`);
}

/** Collects the events of a stream until it ends, with a deadline. */
async function collect(stream: AsyncIterable<CgroupEvent> & { close(): Promise<void> }, timeoutMs: number): Promise<CgroupEvent[]> {
  const timer = setTimeout(() => void stream.close(), timeoutMs);
  const events: CgroupEvent[] = [];
  for await (const event of stream) events.push(event);
  clearTimeout(timer);
  return events;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Seconds that all CPUs of the host spent idle since boot, waiting for I/O included, from
 * /proc/stat (in USER_HZ, which is 100 on x86).
 */
function hostIdleSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return (Number(fields[4]) + Number(fields[5])) / 100;
}

memoryTest('memory hog is OOM-killed with an oom event', async (t) => {
  const handle = await create(t, runtime(t), spec(['sh', '-c', 'x=$(head -c 200M /dev/zero | tr "\\0" a); echo survived'], { memory: { limit: 64 * MiB, swap: 64 * MiB } }), 'oom');
  const stream = cgroupEvents(handle.container, { statsInterval: 0, pollInterval: 200 });
  t.log('notifications:', stream.sources);
  await handle.start();
  const [events, status] = await Promise.all([collect(stream, 60_000 * TIME_SCALE), handle.wait()]);
  t.deepEqual(status, { exited: false, signal: 9, coreDumped: false });
  const oom = events.find((event) => event.type === 'oom');
  t.truthy(oom, JSON.stringify(events));
  t.is(oom!.id, handle.container.id);
  t.like(oom!.data, { count: 1, limit: 64 * MiB });
  await deleteAndCheck(t, handle);
});

rootTest('fork bomb stops at pids.max with a pids event', async (t) => {
  // Each shell forks two more until the kernel refuses; the limit caps the whole tree.
  const bomb = 'b() { b & b & wait; }; b 2>/dev/null';
  const handle = await create(t, runtime(t), spec(['sh', '-c', bomb], { pids: { limit: 32 } }), 'forkbomb');
  const stream = cgroupEvents(handle.container, { statsInterval: 0, pollInterval: 200 });
  await handle.start();
  const events: CgroupEvent[] = [];
  for await (const event of stream) {
    events.push(event);
    if (event.type === 'pids.max') break;
  }
  const stats = cgroupStats(handle.container);
  handle.kill(9);
  await handle.wait();
  const pids = events.find((event) => event.type === 'pids.max');
  t.truthy(pids, JSON.stringify(events));
  t.like(pids!.data, { limit: 32 });
  t.true(stats.pids!.current <= 32, `pids.current ${stats.pids!.current}`);
  t.true(stats.pids!.limitHits >= 1);
  await deleteAndCheck(t, handle);
});

rootTest('busy loop under a 50% quota is throttled at half a CPU', async (t) => {
  const handle = await create(t, runtime(t), spec(['sh', '-c', 'while :; do :; done & while :; do :; done'], { cpu: { quota: 50_000, period: 100_000 } }), 'quota');
  await handle.start();
  await sleep(500);
  const before = cgroupStats(handle.container).cpu!;
  const idleBefore = hostIdleSeconds();
  const startedAt = process.hrtime.bigint();
  await sleep(3000);
  const after = cgroupStats(handle.container).cpu!;
  const wallNanoseconds = Number(process.hrtime.bigint() - startedAt);
  const idle = (hostIdleSeconds() - idleBefore) / (wallNanoseconds / 1e9);
  handle.kill(9);
  await handle.wait();

  const used = after.usageNanoseconds - before.usageNanoseconds;
  const periods = after.periods - before.periods;
  const throttled = after.throttledPeriods - before.throttledPeriods;
  // CPU time per CFS period in which the cgroup ran, from the kernel's counters alone: the quota
  // caps it at 50 ms of each 100 ms period.
  const perPeriod = used / (periods * 100_000_000);
  t.log({ perPeriod, ofWallTime: used / wallNanoseconds, periods, throttled, idle });
  t.true(perPeriod <= 0.55, `${perPeriod} CPUs per period`);
  t.true(used / wallNanoseconds <= 0.55, `${used / wallNanoseconds} CPUs over wall time`);
  // Two loops ask for two CPUs. When the host had a quarter of a CPU idle besides them, they must
  // have reached the quota and been throttled. A host busy with other work may starve them instead.
  if (idle >= 0.25) {
    t.true(throttled >= 1, `throttled in ${throttled} of ${periods} periods with ${idle.toFixed(2)} CPUs idle`);
    t.true(perPeriod >= 0.4, `${perPeriod} CPUs per period with ${idle.toFixed(2)} CPUs idle`);
  } else {
    t.log(`the host had ${idle.toFixed(2)} CPUs idle, so only the upper bound was checked`);
  }
  await deleteAndCheck(t, handle);
});

rootTest('read under a read-bps limit runs at about that rate', async (t) => {
  // A file on a real block device, read with O_DIRECT so that the page cache cannot serve it.
  const directory = mkdtempSync('/var/tmp/bulkhead-readbps-');
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const file = join(directory, 'data');
  writeFileSync(file, Buffer.alloc(12 * MiB, 1));
  const { dev } = statSync(file);
  const device = { major: Math.floor(dev / 256) & 0xfff, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00) };
  if (device.major === 0 || !existsSync(`/sys/dev/block/${device.major}:${device.minor}`)) {
    t.pass(`${directory} is not on a block device (${device.major}:${device.minor}), so there is nothing to throttle`);
    return;
  }
  const rate = 4 * MiB;
  const handle = await create(t, runtime(t), spec(['dd', `if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct'], { blockIO: { throttleReadBpsDevice: [{ ...device, rate }] } }), 'readbps');
  const startedAt = process.hrtime.bigint();
  const idleBefore = hostIdleSeconds();
  await handle.start();
  const status = await handle.wait();
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const idle = (hostIdleSeconds() - idleBefore) / seconds;
  const io = cgroupStats(handle.container).io!;
  t.deepEqual(status, { exited: true, code: 0 });
  t.true(io.readBytes >= 12 * MiB, `the cgroup read ${io.readBytes} bytes`);
  const measured = (12 * MiB) / seconds;
  t.log({ seconds, measured, rate, idle });
  t.true(measured <= rate * 1.15, `read at ${measured} B/s under a ${rate} B/s limit`);
  // A host busy with other work may starve dd of CPU, and a busy disk may read slower still.
  if (idle >= 0.25) t.true(measured >= rate * 0.4, `read at ${measured} B/s under a ${rate} B/s limit with ${idle.toFixed(2)} CPUs idle`);
  else t.log(`the host had ${idle.toFixed(2)} CPUs idle, so only the upper bound was checked`);
  await deleteAndCheck(t, handle);
});

memoryTest('update changes limits of a running container', async (t) => {
  const rt = runtime(t);
  const handle = await create(t, rt, spec(['sleep', '30'], { memory: { limit: 64 * MiB }, pids: { limit: 20 } }), 'update');
  await handle.start();
  await rt.update(handle.container.id, { memory: { limit: 96 * MiB }, pids: { limit: 30 } });
  const memory = directoryOf(handle, 'memory');
  const limitFile = record(handle).version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes';
  t.is(readFileSync(join(memory, limitFile), 'utf8').trim(), String(96 * MiB));
  t.is(readFileSync(join(directoryOf(handle, 'pids'), 'pids.max'), 'utf8').trim(), '30');
  t.like(rt.config(handle.container.id).linux!.resources, { memory: { limit: 96 * MiB }, pids: { limit: 30 } });

  await t.throwsAsync(rt.update(handle.container.id, { pids: { limit: -3 } }), { message: /linux\.resources\.pids\.limit: must be an integer of at least -1/ });
  t.is(readFileSync(join(directoryOf(handle, 'pids'), 'pids.max'), 'utf8').trim(), '30', 'a rejected update writes nothing');
  handle.kill(9);
  await handle.wait();
  await deleteAndCheck(t, handle);
});

rootTest('pressure controller raises an idle quota within bounds', async (t) => {
  const handle = await create(t, runtime(t), spec(['sleep', '30'], { cpu: { quota: 30_000, period: 100_000 } }), 'adjust');
  await handle.start();
  // Thresholds above 100% make every sample "low pressure", so the decision rests on usage alone.
  const controller = adjustResources(handle.container, { cpu: { min: 0.1, max: 0.5 }, interval: 100, policy: { lowPressure: 101, highPressure: 101 } });
  t.teardown(() => controller.stop());
  if (!controller.available) {
    t.regex(controller.unavailableReason!, /pressure/);
    await deleteAndCheck(t, handle);
    return;
  }
  const adjusted = new Promise((resolve) => controller.once('adjust', resolve));
  controller.start();
  const event = (await adjusted) as { data: { resource: string; from: number; to: number; reason: string } };
  controller.stop();
  t.like(event.data, { resource: 'cpu.quota', from: 30_000, to: 33_000 });
  t.regex(event.data.reason, /^raise by 10%/);
  const cpu = directoryOf(handle, 'cpu');
  const quota = record(handle).version === 'v2' ? readFileSync(join(cpu, 'cpu.max'), 'utf8').trim() : readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim();
  t.true(quota.startsWith('33000'), quota);
  handle.kill(9);
  await handle.wait();
  await deleteAndCheck(t, handle);
});
