import test from 'ava';
import { bulkhead } from './helpers.js';

test('plan prints namespaces and numbered steps', async (t) => {
  const result = await bulkhead(['plan', '--hostname', 'box', '--', 'sh', '-c', 'echo']);
  t.is(result.code, 0);
  t.regex(result.stdout, /^namespaces: pid \(new\), mount \(new\), uts \(new\), ipc \(new\), network \(new\)\n/);
  t.regex(result.stdout, /sethostname "box"/);
  t.regex(result.stdout, /pivot_root into rootfs/);
  t.regex(result.stdout.trim().split('\n').at(-1)!, /exec "sh"/);
});

test('plan --json is the plan as data', async (t) => {
  const result = await bulkhead(['plan', '--json', 'true']);
  const plan = JSON.parse(result.stdout) as { namespaces: unknown[]; steps: { step: { op: string } }[] };
  t.is(plan.steps[0]!.step.op, 'barrier');
  t.is(plan.steps.at(-1)!.step.op, 'exec');
});
