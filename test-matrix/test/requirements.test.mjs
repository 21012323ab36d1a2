import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findFeature, kernelSatisfies, unmetRequirement } from '../lib/requirements.mjs';
import { summarizeTap } from '../lib/tap.mjs';

const MACHINE = {
  uid: 0, release: '6.1.0-57-amd64', cgroup: 'v2', lsms: ['capability', 'apparmor'],
  features: { kernel: '6.1.0-57-amd64', syscalls: { clone3: true, mount_setattr: false } },
};

test('kernel ranges compare major and minor', () => {
  assert.equal(kernelSatisfies('6.1.0-57-amd64', '>=5.10'), true);
  assert.equal(kernelSatisfies('5.10.0-32-amd64', '>=6.1'), false);
  assert.equal(kernelSatisfies('5.9.0', '<5.10'), true);
  assert.equal(kernelSatisfies('7.3.4+deb13-amd64', '>=7.3'), true);
});

test('invalid kernel range is rejected', () => {
  assert.throws(() => kernelSatisfies('6.1', '~6'), /invalid kernel range "~6"/);
});

test('feature is found by path or last key', () => {
  assert.equal(findFeature(MACHINE.features, 'syscalls.clone3'), true);
  assert.equal(findFeature(MACHINE.features, 'clone3'), true);
  assert.equal(findFeature(MACHINE.features, 'pidfd'), undefined);
});

test('met requirements return null', () => {
  assert.equal(unmetRequirement({ root: true, kernel: '>=5.2', cgroup: 'v2', lsm: 'apparmor', feature: 'clone3' }, MACHINE), null);
  assert.equal(unmetRequirement(undefined, MACHINE), null);
});

test('each unmet requirement names itself', () => {
  assert.equal(unmetRequirement({ root: true }, { ...MACHINE, uid: 1000 }), 'needs root');
  assert.equal(unmetRequirement({ kernel: '>=6.2' }, MACHINE), 'needs kernel >=6.2, running 6.1.0-57-amd64');
  assert.equal(unmetRequirement({ cgroup: 'v2' }, { ...MACHINE, cgroup: 'hybrid' }), 'needs cgroup v2, running hybrid');
  assert.equal(unmetRequirement({ cgroup: ['v1', 'hybrid'] }, MACHINE), 'needs cgroup v1 or hybrid, running v2');
  assert.equal(unmetRequirement({ cgroup: ['v1', 'hybrid'] }, { ...MACHINE, cgroup: 'hybrid' }), null);
  assert.equal(unmetRequirement({ lsm: 'selinux' }, MACHINE), 'needs the selinux LSM, active: capability,apparmor');
  assert.equal(unmetRequirement({ feature: 'mount_setattr' }, MACHINE), 'needs feature mount_setattr, the probe reports false');
  assert.equal(unmetRequirement({ feature: ['clone3', 'pidfd'] }, MACHINE), 'needs feature pidfd, the probe reports nothing');
});

test('tap counts top-level points', () => {
  const tap = `TAP version 13
ok 1 - a
not ok 2 - b
ok 3 - c # SKIP no root
# Subtest: d
    ok 1 - inner
ok 4 - d
not ok 5 - e # TODO later
1..5`;
  assert.deepEqual(summarizeTap(tap), { total: 5, passed: 2, failed: 1, skipped: 2 });
});
