import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Runtime, SpecError, type AuditEvent, type ContainerSpec, type Mount } from '@bulkhead/core';
import { RecordingSyscalls } from '@bulkhead/core/testing';
import { checkPolicy, mountPlugin, type MountPolicy } from '../src/index.js';
import { tmpfsSize } from '../src/policy.js';

const rootfs = mkdtempSync(join(tmpdir(), 'bulkhead-rootfs-'));
process.once('exit', () => rmSync(rootfs, { recursive: true, force: true }));

const runtime = (policy: MountPolicy) => new Runtime({ syscalls: new RecordingSyscalls(), stateRoot: '/run/bulkhead-test' }).use(mountPlugin({ policy }));

function spec(mounts: Mount[], readonly = false): ContainerSpec {
  return { ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, root: { path: rootfs, readonly }, mounts, linux: { namespaces: [{ type: 'mount' }] } };
}

function problems(policy: MountPolicy, mounts: Mount[]): string[] {
  try {
    runtime(policy).validate(spec(mounts));
  } catch (error) {
    if (error instanceof SpecError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

const tmpfs = (destination: string, ...options: string[]): Mount => ({ destination, type: 'tmpfs', source: 'tmpfs', options });

test('policy denies a type it does not allow', (t) => {
  t.deepEqual(problems({ allowedTypes: ['tmpfs', 'proc'] }, [tmpfs('/tmp', 'size=1m'), { destination: '/data', source: '/srv', options: ['rbind'] }]), [
    'mounts[1]: denied by mount policy rule allowedTypes: type bind at /data is not one of the allowed types tmpfs, proc',
  ]);
});

test('policy denies more mounts than maxMounts', (t) => {
  t.deepEqual(problems({ maxMounts: 1 }, [tmpfs('/a'), tmpfs('/b'), tmpfs('/c')]), ['mounts[1]: denied by mount policy rule maxMounts: the spec has 3 mounts and the policy allows at most 1']);
});

test('policy sums tmpfs sizes', (t) => {
  t.deepEqual(problems({ maxTmpfsSize: 3 * 1024 * 1024 }, [tmpfs('/a', 'size=2m'), tmpfs('/b', 'size=1024k'), tmpfs('/c', 'size=1')]), [
    'mounts[2]: denied by mount policy rule maxTmpfsSize: tmpfs at /c brings the total tmpfs size to 3145729 bytes and the policy allows at most 3145728',
  ]);
});

test('policy denies a tmpfs without a size', (t) => {
  t.deepEqual(problems({ maxTmpfsSize: 1024 }, [tmpfs('/a', 'mode=1777'), tmpfs('/b', 'size=50%')]), [
    'mounts[0]: denied by mount policy rule maxTmpfsSize: tmpfs at /a needs a size= option in bytes, k, m or g, because the policy limits the total tmpfs size',
    'mounts[1]: denied by mount policy rule maxTmpfsSize: tmpfs at /b needs a size= option in bytes, k, m or g, because the policy limits the total tmpfs size',
  ]);
});

test('policy allows what it does not forbid', (t) => {
  t.deepEqual(problems({ allowedTypes: ['tmpfs'], maxMounts: 2, maxTmpfsSize: 2048 }, [tmpfs('/a', 'size=1k'), tmpfs('/b', 'size=1k')]), []);
});

test('policy forces nosuid, nodev and noexec on every mount', (t) => {
  const mounts = [tmpfs('/a', 'size=1k'), { destination: '/data', source: '/srv', options: ['rbind', 'ro'] }];
  const steps = runtime({ force: { nosuid: true, nodev: true, noexec: true } }).describe(spec(mounts)).steps().map((s) => s.step);
  const a = steps.find((s) => s.op === 'mount' && s.target.path === '/a');
  t.like(a, { flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'] });
  const remount = steps.find((s) => s.op === 'mount' && s.target.path === '/data' && s.flags.includes('MS_REMOUNT'));
  t.like(remount, { flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY', 'MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'] });
});

test('policy forces a read-only root', (t) => {
  const steps = runtime({ readonlyRoot: true }).describe(spec([])).steps().map((s) => s.step);
  const remount = steps.find((s) => s.op === 'mount' && s.target.path === '/' && s.flags.includes('MS_REMOUNT'));
  t.like(remount, { flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'] });
  t.true(steps.indexOf(remount!) > steps.findIndex((s) => s.op === 'pivot-root'), 'after pivot_root');
});

test('invalid policies are rejected with each problem', (t) => {
  t.deepEqual(checkPolicy({ allowedTypes: 'tmpfs', maxMounts: -1, maxTmpfsSize: 1.5, force: { nosuid: 'yes', suid: true }, readonlyRoot: 1, other: true }), [
    'other: unknown mount policy rule',
    'allowedTypes: must be an array of filesystem type names',
    'maxMounts: must be a non-negative integer',
    'maxTmpfsSize: must be a non-negative integer',
    'readonlyRoot: must be true or false',
    'force.nosuid: must be true or false',
    'force.suid: unknown flag; the policy can force nosuid, nodev and noexec',
  ]);
  t.deepEqual(checkPolicy([]), ['mount policy: must be an object']);
  t.throws(() => mountPlugin({ policy: { maxMounts: -1 } }), { message: '@bulkhead/plugin-mount: invalid options: maxMounts: must be a non-negative integer' });
});

const sizes: [string[], number | undefined][] = [
  [['size=1'], 1],
  [['size=4k'], 4096],
  [['size=2M'], 2 * 1024 * 1024],
  [['size=1g'], 1024 ** 3],
  [['size=1m', 'size=2m'], 2 * 1024 * 1024],
  [['size=10%'], undefined],
  [['mode=1777'], undefined],
];
for (const [data, expected] of sizes) {
  test(`tmpfs size ${data.join(',')}`, (t) => t.is(tmpfsSize(data), expected));
}

test('policy denials are audit events', (t) => {
  const events: AuditEvent[] = [];
  const audited = runtime({ allowedTypes: ['tmpfs'], maxMounts: 1 }).onAudit((event) => events.push(event));
  t.throws(() => audited.validate(spec([tmpfs('/a', 'size=1k'), { destination: '/data', source: '/srv', options: ['rbind'] }]), undefined, 'audited'));
  t.deepEqual(
    events.map(({ time: _time, ...event }) => event),
    [
      { container: 'audited', plugin: '@bulkhead/plugin-mount', decision: 'deny', action: 'mount.policy.maxMounts', field: 'mounts[1]', detail: { rule: 'maxMounts', reason: 'the spec has 2 mounts and the policy allows at most 1' } },
      { container: 'audited', plugin: '@bulkhead/plugin-mount', decision: 'deny', action: 'mount.policy.allowedTypes', field: 'mounts[1]', detail: { rule: 'allowedTypes', reason: 'type bind at /data is not one of the allowed types tmpfs' } },
    ],
  );
});

test('allowed mounts make no audit event', (t) => {
  const events: AuditEvent[] = [];
  runtime({ allowedTypes: ['tmpfs'] }).onAudit((event) => events.push(event)).validate(spec([tmpfs('/a', 'size=1k')]));
  t.deepEqual(events, []);
});
