// Pure logic of enforcement events, live update and pressure-driven adjustment, without root.
import test from 'ava';
import { Container, silentLogger } from '@bulkhead/core';
import { RecordingSyscalls } from '@bulkhead/core/testing';
import { classify, completeChange, decide, DEFAULT_POLICY, enforcementEvents, parsePressure, readCounters, toRuncStats, PressureController, type Verdict, type CgroupRecord, type CgroupStats } from '../src/index.js';
import { V1Driver } from '../src/v1.js';
import { FakeFs } from './fake-fs.js';

const stats = (overrides: { oomKills?: number; high?: number; limitHits?: number; pidsHits?: number; throttled?: number; throttledNs?: number } = {}): CgroupStats => ({
  cpu: { usageNanoseconds: 5, userNanoseconds: 3, systemNanoseconds: 2, periods: 10, throttledPeriods: overrides.throttled ?? 0, throttledNanoseconds: overrides.throttledNs ?? 0 },
  memory: { usage: 1000, limit: 4096, maxUsage: 2000, limitHits: overrides.limitHits ?? 0, oomKills: overrides.oomKills ?? 0, events: { high: overrides.high ?? 0 } },
  pids: { current: 8, limit: 8, limitHits: overrides.pidsHits ?? 0 },
  io: { readBytes: 1, writeBytes: 2, readOps: 3, writeOps: 4 },
});

test('rising counters become events', (t) => {
  const before = stats({ throttled: 2, throttledNs: 100 });
  const after = stats({ oomKills: 1, high: 3, limitHits: 5, pidsHits: 2, throttled: 6, throttledNs: 900 });
  const events = enforcementEvents('c1', readCounters(before), before, after, 'T');
  t.deepEqual(events, [
    { type: 'oom', id: 'c1', data: { count: 1, total: 1, limit: 4096, usage: 1000, time: 'T' } },
    { type: 'memory.high', id: 'c1', data: { count: 3, total: 3, limit: 4096, usage: 1000, time: 'T' } },
    { type: 'memory.max', id: 'c1', data: { count: 5, total: 5, limit: 4096, usage: 1000, time: 'T' } },
    { type: 'pids.max', id: 'c1', data: { count: 2, total: 2, limit: 8, usage: 8, time: 'T' } },
    { type: 'cpu.throttled', id: 'c1', data: { count: 4, total: 6, throttledNanoseconds: 800, time: 'T' } },
  ]);
});

test('unchanged counters give no event', (t) => {
  const same = stats({ oomKills: 2, pidsHits: 1 });
  t.deepEqual(enforcementEvents('c1', readCounters(same), same, same, 'T'), []);
});

test('counter that fell starts over from zero', (t) => {
  const events = enforcementEvents('c1', readCounters(stats({ pidsHits: 9 })), undefined, stats({ pidsHits: 2 }), 'T');
  t.deepEqual(events.map((event) => [event.type, (event.data as { count: number }).count]), [['pids.max', 2]]);
});

test('unlimited memory reads as max', (t) => {
  const after = stats({ oomKills: 1 });
  delete after.memory!.limit;
  t.like(enforcementEvents('c1', readCounters(stats()), undefined, after, 'T')[0]!.data, { limit: 'max' });
});

test('stats convert to runc field names', (t) => {
  const runc = toRuncStats(stats({ throttled: 1, throttledNs: 7, limitHits: 4 }));
  t.deepEqual(runc.cpu, { usage: { total: 5, kernel: 2, user: 3 }, throttling: { periods: 10, throttledPeriods: 1, throttledTime: 7 } });
  t.deepEqual(runc.memory.usage, { usage: 1000, failcnt: 4, limit: 4096, max: 2000 });
  t.deepEqual(runc.pids, { current: 8, limit: 8 });
  t.deepEqual(runc.blkio.ioServiceBytesRecursive, [{ op: 'Read', value: 1 }, { op: 'Write', value: 2 }, { op: 'Total', value: 3 }]);
});

test('stats of missing controllers read as zeros', (t) => {
  const runc = toRuncStats({});
  t.is(runc.cpu.usage.total, 0);
  t.deepEqual(runc.pids, { current: 0 });
  t.false('limit' in runc.memory.usage);
});

test('PSI file parses', (t) => {
  const pressure = parsePressure('some avg10=12.50 avg60=3.00 avg300=0.10 total=4242\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=7\n');
  t.deepEqual(pressure, { some: { avg10: 12.5, avg60: 3, avg300: 0.1, total: 4242 }, full: { avg10: 1, avg60: 0, avg300: 0, total: 7 } });
  t.deepEqual(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n'), { some: { avg10: 0, avg60: 0, avg300: 0, total: 0 } });
  t.is(parsePressure(''), undefined);
});

const classified: [string, { pressure: number; usage: number; limit: number }, Verdict][] = [
  ['low pressure and low usage', { pressure: 5, usage: 10, limit: 100 }, 'raise'],
  ['low pressure but usage at 80%', { pressure: 5, usage: 80, limit: 100 }, 'hold'],
  ['pressure inside the band', { pressure: 20, usage: 10, limit: 100 }, 'hold'],
  ['high pressure', { pressure: 41, usage: 99, limit: 100 }, 'lower'],
];
for (const [name, sample, verdict] of classified) {
  test(`classify: ${name}`, (t) => t.is(classify(sample, DEFAULT_POLICY), verdict));
}

test('decide waits for agreeing samples', (t) => {
  const bounds = { min: 10_000, max: 200_000 };
  const low = { pressure: 1, usage: 1000, limit: 50_000 };
  let streak = { verdict: 'hold' as const, count: 0 } as Parameters<typeof decide>[0];
  const limits: (number | undefined)[] = [];
  for (let i = 0; i < 4; i++) {
    const decision = decide(streak, low, DEFAULT_POLICY, 0.1, bounds);
    limits.push(decision.limit);
    streak = decision.streak;
  }
  t.deepEqual(limits, [undefined, undefined, 55_000, undefined], 'a change after three samples, then the streak starts over');
});

test('decide resets the streak when the verdict flips', (t) => {
  const bounds = { min: 1, max: 1_000_000 };
  const first = decide({ verdict: 'raise', count: 2 }, { pressure: 90, usage: 1, limit: 1000 }, DEFAULT_POLICY, 0.1, bounds);
  t.deepEqual(first.streak, { verdict: 'lower', count: 1 });
  t.is(first.limit, undefined);
});

test('decide lowers by the step and names the figures', (t) => {
  const decision = decide({ verdict: 'lower', count: 2 }, { pressure: 75.5, usage: 900, limit: 1000 }, DEFAULT_POLICY, 0.05, { min: 1, max: 2000 });
  t.is(decision.limit, 950);
  t.regex(decision.reason, /^lower by 5%: system pressure above 40% \(system pressure 75\.50%, usage 90% of the limit\)$/);
});

test('decide stays within bounds', (t) => {
  const raise = decide({ verdict: 'raise', count: 2 }, { pressure: 0, usage: 0, limit: 1000 }, DEFAULT_POLICY, 0.1, { min: 500, max: 1050 });
  t.is(raise.limit, 1050);
  const atMax = decide({ verdict: 'raise', count: 2 }, { pressure: 0, usage: 0, limit: 1050 }, DEFAULT_POLICY, 0.1, { min: 500, max: 1050 });
  t.is(atMax.limit, undefined);
  t.regex(atMax.reason, /stopped at the maximum bound/);
  const lower = decide({ verdict: 'lower', count: 2 }, { pressure: 99, usage: 0, limit: 520 }, DEFAULT_POLICY, 0.1, { min: 500, max: 1050 });
  t.is(lower.limit, 500);
});

test('quota change keeps the stored period', (t) => {
  t.deepEqual(completeChange({ cpu: { quota: 20_000, period: 50_000, shares: 100 } }, { cpu: { quota: 30_000 } }), { cpu: { quota: 30_000, period: 50_000 } });
  t.deepEqual(completeChange({ memory: { limit: 100, swap: 200 } }, { memory: { swap: 300 } }), { memory: { limit: 100, swap: 300 } });
  t.deepEqual(completeChange({ cpu: { quota: 1 } }, { pids: { limit: 3 } }), { pids: { limit: 3 } });
});

const V1_RECORD: CgroupRecord = { version: 'v1', directories: { memory: '/cg/memory/c1' }, mountpoints: { memory: '/cg/memory' }, created: [] };

test('v1 raises memsw before a memory limit above it', (t) => {
  const fs = new FakeFs(new Map([['/cg/memory/c1', '<dir>'], ['/cg/memory/c1/memory.memsw.limit_in_bytes', '1000']]));
  new V1Driver(fs, V1_RECORD, () => undefined).apply({ memory: { limit: 2000, swap: 3000 } });
  t.deepEqual(fs.writes.map(([path]) => path.split('/').pop()), ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes']);
});

test('v1 lowers the memory limit before memsw', (t) => {
  const fs = new FakeFs(new Map([['/cg/memory/c1', '<dir>'], ['/cg/memory/c1/memory.memsw.limit_in_bytes', '3000']]));
  new V1Driver(fs, V1_RECORD, () => undefined).apply({ memory: { limit: 500, swap: 600 } });
  t.deepEqual(fs.writes, [['/cg/memory/c1/memory.limit_in_bytes', '500'], ['/cg/memory/c1/memory.memsw.limit_in_bytes', '600']]);
});

const container = () => new Container('c1', { ociVersion: '1.2.0' }, '/', '/run/x/c1', new RecordingSyscalls(), silentLogger);

test('pressure controller stays off without PSI', (t) => {
  const fs = new FakeFs(new Map([['/cg/memory/c1', '<dir>']]));
  const controller = new PressureController(container(), new V1Driver(fs, V1_RECORD, () => undefined), fs, V1_RECORD, { memory: { min: 1, max: 2 } });
  t.false(controller.available);
  t.regex(controller.unavailableReason!, /^\/proc\/pressure\/memory is missing: the kernel has no pressure stall information/);
  controller.start();
  t.deepEqual(fs.writes, []);
});

test('pressure controller lowers memory under high pressure with an audit event', (t) => {
  const fs = new FakeFs(new Map([
    ['/proc/pressure/memory', 'some avg10=80.00 avg60=0 avg300=0 total=1\n'],
    ['/cg/memory/c1', '<dir>'],
    ['/cg/memory/c1/memory.limit_in_bytes', '1000000'],
    ['/cg/memory/c1/memory.usage_in_bytes', '900000'],
  ]));
  const controller = new PressureController(container(), new V1Driver(fs, V1_RECORD, () => undefined), fs, V1_RECORD, { memory: { min: 500_000, max: 2_000_000 } });
  const events: unknown[] = [];
  controller.on('adjust', (event) => events.push(event));
  for (let i = 0; i < 3; i++) controller.sample();
  t.deepEqual(fs.writes, [['/cg/memory/c1/memory.limit_in_bytes', '950000']]);
  t.like(events[0], { type: 'adjust', id: 'c1', data: { resource: 'memory.limit', from: 1_000_000, to: 950_000, pressure: { system: 80 }, usage: 900_000 } });
});
