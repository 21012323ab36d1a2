import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ensureFixtures } from '@bulkhead/testkit/fixtures';
import type { Plugin } from '@bulkhead/core';
import { baseSpec, planOf, requireRoot, runContainer } from '../src/index.js';

const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;

/** A plugin that mounts a tmpfs at /scratch: enough to see planOf and runContainer at work. */
function scratchPlugin(): Plugin {
  return {
    name: 'scratch',
    core: '^0.1.0',
    apply({ hooks }) {
      hooks.plan.tap((plan) => {
        plan.add('scratch', 'filesystem', { op: 'mount', source: 'tmpfs', target: { path: '/scratch', root: 'rootfs' }, fstype: 'tmpfs', flags: ['MS_NOSUID'], data: 'size=1m', create: 'directory' });
      });
    },
  };
}

test('planOf returns only the plugin steps', (t) => {
  const { steps, all, syscalls } = planOf([scratchPlugin()], baseSpec(['true']));
  t.is(steps.length, 1);
  t.like(steps[0], { plugin: 'scratch', phase: 'filesystem', step: { op: 'mount', fstype: 'tmpfs', data: 'size=1m' } });
  t.true(all.length > steps.length, 'the whole plan has the other steps too');
  t.deepEqual(syscalls.calls.filter((call) => call.name !== 'syscallExists'), [], 'only kernel probes, nothing that changes the host');
});

test('planOf throws validation problems', (t) => {
  const spec = baseSpec(['true']);
  spec.hostname = 'not a hostname';
  t.throws(() => planOf([], spec), { message: /^hostname: invalid hostname/ });
});

rootTest('runContainer runs a plugin in a throwaway container', async (t) => {
  const result = await runContainer(['sh', '-c', 'grep -c " /scratch .* - tmpfs " /proc/self/mountinfo; echo err >&2; exit 3'], { plugins: [scratchPlugin()] });
  t.is(result.code, 3);
  t.is(result.stdout, '1\n');
  t.is(result.stderr, 'err\n');
});

rootTest('runContainer writes to a copy of the fixture', async (t) => {
  const marker = `marker-${process.pid}`;
  const result = await runContainer(['sh', '-c', `touch /${marker} && ls /${marker}`]);
  t.is(result.code, 0, result.stderr);
  const { busybox } = await ensureFixtures();
  t.false(existsSync(join(busybox, marker)));
});

test('runContainer without root says it needs root', (t) => {
  t.throws(() => requireRoot(65534), { message: /^runContainer needs root/ });
  t.notThrows(() => requireRoot(0));
});
