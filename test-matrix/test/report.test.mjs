import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTable, describeRun, findRegressions, renderHtml, renderMarkdown, suiteStatus } from '../lib/report.mjs';

const cell = (kernel, cgroup, suites, extra = {}) => ({
  kernel, cgroup, release: `${kernel}.0-1-amd64`, accel: 'tcg', seconds: 100, bootToFirstTestSeconds: 15,
  suiteNames: suites.map((suite) => suite.name), suites, infrastructureFailure: null,
  features: { kernel: { cgroup: { mode: cgroup }, syscalls: { clone3: true } } }, ...extra,
});
const report = (cells) => ({ description: 'Run at noon.', cells });

const PASS = { name: 'core', status: 'pass', passed: 3, total: 3 };
const FAIL = { name: 'core', status: 'fail', passed: 2, total: 3, reason: '1 of 3 tests failed' };
const SKIP = { name: 'cgroup-v2', status: 'skip', reason: 'needs cgroup v2, running hybrid' };

test('pass to fail is a regression', () => {
  const before = report([cell('6.1', 'v2', [PASS])]);
  const after = report([cell('6.1', 'v2', [FAIL])]);
  assert.deepEqual(findRegressions(before, after), ['6.1/v2/core']);
});

test('infrastructure error after pass is a regression', () => {
  const before = report([cell('6.1', 'v2', [PASS])]);
  const after = report([cell('6.1', 'v2', [], { suiteNames: ['core'], infrastructureFailure: 'timed out' })]);
  assert.deepEqual(findRegressions(before, after), ['6.1/v2/core']);
});

test('fail that was failing is no regression', () => {
  const failing = report([cell('6.1', 'v2', [FAIL])]);
  assert.deepEqual(findRegressions(failing, failing), []);
  assert.deepEqual(findRegressions(null, failing), []);
});

test('suite status carries counts and reasons', () => {
  assert.deepEqual(suiteStatus(cell('6.1', 'v2', [PASS]), 'core'), { status: 'pass', reason: undefined, counts: '3/3' });
  assert.deepEqual(suiteStatus(cell('6.1', 'v1', [SKIP]), 'cgroup-v2'), { status: 'skip', reason: SKIP.reason, counts: null });
});

test('table has kernels as columns', () => {
  const table = buildTable(report([cell('6.1', 'v2', [FAIL]), cell('5.10', 'v2', [PASS]), cell('5.10', 'v1', [PASS]), cell('6.1', 'v1', [PASS])]));
  assert.deepEqual(table.kernels, ['5.10', '6.1']);
  const row = table.rows.find((entry) => entry.label === 'core (cgroup v2)');
  assert.deepEqual(row.values.map((value) => value.status), ['pass', 'fail']);
  assert.ok(table.rows.some((entry) => entry.label === 'feature: cgroup.mode (cgroup v1)'));
  assert.ok(table.rows.some((entry) => entry.label === 'feature: syscalls.clone3'));
});

test('markdown and html show skip reasons', () => {
  const data = report([cell('6.1', 'v1', [SKIP])]);
  assert.match(renderMarkdown(data), /\| cgroup-v2 \(cgroup v1\) \| skip: needs cgroup v2, running hybrid \|/);
  const html = renderHtml(data);
  assert.match(html, /<td class="skip">skip: needs cgroup v2, running hybrid<\/td>/);
  assert.doesNotMatch(html, /<link|<script|src=/);
  assert.match(html, /<p>Run at noon\./);
});

test('run description names time and host', () => {
  assert.equal(describeRun({ startedAt: 'T', seconds: 12.4, parallel: 2, host: 'h' }), 'Run T, 12 s in all, 2 VMs at a time on h.');
});
