import assert from 'node:assert/strict';
import test from 'node:test';
import { failureDetails } from '../scripts/test.mjs';

const nxOutput = [
  '\x1b[2m> \x1b[22m\x1b[2mnx run\x1b[22m @bulkhead/plugin-cgroup:test',
  '  ✔ shares convert to weight without overflow',
  '  ✘ [fail]: busy loop under a 50% quota uses about half a CPU 0.61 CPUs per period',
  '    ℹ { periods: 30 }',
  '  ✔ update changes limits of a running container',
  '  ─',
  '',
  '  busy loop under a 50% quota uses about half a CPU',
  '  Value is not `true`:',
  '  ─',
  '  1 test failed',
  '> nx run @bulkhead/cli:test',
  '  ✔ run prints PID 1',
  '  ─',
  '  1 test passed',
  ' NX   Running target test for 2 projects failed',
  'Failed tasks:',
  '\x1b[2m-\x1b[22m @bulkhead/plugin-cgroup:test',
].join('\n');

test('failureDetails keeps only failed projects', () => {
  const [details, ...others] = failureDetails(nxOutput);
  assert.equal(others.length, 0);
  assert.match(details, /^@bulkhead\/plugin-cgroup:\n/);
  assert.match(details, /✘ \[fail\]: busy loop .* 0\.61 CPUs per period\n {4}ℹ \{ periods: 30 \}\n {2}─\n/);
  assert.match(details, /Value is not `true`:\n {2}─\n {2}1 test failed$/);
  assert.doesNotMatch(details, /cli|PID 1|convert|update/);
});

test('failureDetails without project output', () => {
  assert.deepEqual(failureDetails('Failed tasks:\n- @bulkhead/core:test\n'), ['@bulkhead/core: its output was not found']);
});
