import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { bulkhead, fixtures, leftoverCgroups, rootTest, RUNNING_SECONDS, stateRoot, temporaryDir, TIME_SCALE, uniqueId } from './helpers.js';

const MiB = 1024 * 1024;

/** Writes an OCI bundle on the busybox fixture that runs `args`. */
async function bundle(args: string[], resources: Record<string, unknown>): Promise<string> {
  const { busybox } = await fixtures();
  const dir = temporaryDir('bulkhead-events-bundle-');
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.root.path = busybox;
  config.process.args = args;
  config.process.terminal = false;
  config.linux.resources = resources;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const parseLines = (text: string) => text.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { type: string; id: string; data: Record<string, any> });

rootTest('update changes limits that events --stats reports', async (t) => {
  const root = stateRoot();
  const id = uniqueId('update-cli');
  // Also after a failed assertion: cgroups are global to the host.
  t.teardown(async () => void (await bulkhead(['--root', root, 'delete', '--force', id])));
  const dir = await bundle(['sleep', RUNNING_SECONDS], { memory: { limit: 64 * MiB }, pids: { limit: 20 } });
  t.is((await bulkhead(['--root', root, 'create', '--bundle', dir, id])).code, 0);
  t.is((await bulkhead(['--root', root, 'start', id])).code, 0);

  t.is((await bulkhead(['--root', root, 'update', '--memory', '96M', '--pids-limit', '30', id])).code, 0);
  const [stats] = parseLines((await bulkhead(['--root', root, 'events', '--stats', id])).stdout);
  t.is(stats!.type, 'stats');
  t.is(stats!.data['memory'].usage.limit, 96 * MiB);
  t.is(stats!.data['pids'].limit, 30);
  t.true(stats!.data['pids'].current >= 1);

  const file = join(temporaryDir('bulkhead-update-'), 'resources.json');
  writeFileSync(file, JSON.stringify({ pids: { limit: 40 } }));
  t.is((await bulkhead(['--root', root, 'update', '--resources', file, id])).code, 0);
  t.is(parseLines((await bulkhead(['--root', root, 'events', '--stats', id])).stdout)[0]!.data['pids'].limit, 40);
  const state = JSON.parse(readFileSync(join(root, id, 'state.json'), 'utf8'));
  t.deepEqual(state.config.linux.resources.pids, { limit: 40 }, 'the change is saved in the state');

  const invalid = await bulkhead(['--root', root, 'update', '--memory-swap', '32M', id]);
  t.is(invalid.code, 1);
  t.regex(invalid.stderr, /linux\.resources\.memory\.swap: must be -1 or at least memory\.limit/);
  const both = await bulkhead(['--root', root, 'update', '--resources', file, '--memory', '1G', id]);
  t.is(both.code, 2);
  t.regex(both.stderr, /--resources cannot be combined with --memory/);

  t.is((await bulkhead(['--root', root, 'delete', '--force', id])).code, 0);
  t.deepEqual(leftoverCgroups(id), []);
});

rootTest('events reports an OOM kill and ends with the container', async (t) => {
  const root = stateRoot();
  const id = uniqueId('events-oom');
  // Also after a failed assertion: cgroups are global to the host.
  t.teardown(async () => void (await bulkhead(['--root', root, 'delete', '--force', id])));
  const dir = await bundle(['sh', '-c', 'sleep 1; x=$(dd if=/dev/zero bs=1M count=200 2>/dev/null | tr "\\0" a); echo survived'], { memory: { limit: 64 * MiB }, pids: { limit: 32 }, cpu: { quota: 50_000, period: 100_000 } });
  t.is((await bulkhead(['--root', root, 'create', '--bundle', dir, id])).code, 0);
  const events = bulkhead(['--root', root, 'events', '--interval', '300ms', id]);
  // Started once events has had time to take its baseline of the counters.
  await new Promise((resolve) => setTimeout(resolve, 700 * TIME_SCALE));
  t.is((await bulkhead(['--root', root, 'start', id])).code, 0);
  const result = await events;
  t.is(result.code, 0, result.stderr);
  const lines = parseLines(result.stdout);
  const oom = lines.find((line) => line.type === 'oom');
  t.truthy(oom, result.stdout);
  t.is(oom!.id, id);
  t.is(oom!.data['limit'], 64 * MiB);
  t.true(lines.some((line) => line.type === 'stats'));
  t.is((await bulkhead(['--root', root, 'delete', id])).code, 0);
  t.deepEqual(leftoverCgroups(id), []);
});

test('invalid adjust bounds are usage errors', async (t) => {
  for (const [value, message] of [
    ['cpu=2:1', '--adjust: the minimum 2 is above the maximum 1'],
    ['disk=1:2', '--adjust: unknown resource "disk"'],
    ['memory=64M', '--adjust: expected MIN:MAX'],
  ] as const) {
    const result = await bulkhead(['run', '--adjust', value, 'true']);
    t.is(result.code, 2, value);
    t.true(result.stderr.startsWith(`bulkhead: ${message}`), result.stderr);
  }
});

test('events needs a duration for --interval', async (t) => {
  const result = await bulkhead(['events', '--interval', 'soon', 'x']);
  t.is(result.code, 2);
  t.regex(result.stderr, /--interval: invalid duration "soon"/);
});
