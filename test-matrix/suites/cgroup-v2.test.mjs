// cgroup v2 checks that the matrix runs in VMs booted with cgroup_no_v1=all: the unified
// hierarchy, controller delegation to a child group, a pids limit enforced on a process
// moved into it, and device rules enforced by bulkhead's BPF device program on a busybox
// container run with the bulkhead CLI. suites.json requires cgroup v2 and root, so v1 cells
// skip this suite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = '/sys/fs/cgroup';
const GROUP = path.join(ROOT, `bulkhead-matrix-${process.pid}`);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BULKHEAD = path.join(REPO, 'packages/cli/bin/bulkhead.mjs');
const BUSYBOX = '/var/cache/bulkhead/fixtures/busybox/rootfs';
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkhead-cgroup-v2-'));
const STATE = path.join(WORK, 'state');
const ID = `cgroup-v2-devices-${process.pid}`;

const readWords = (file) => fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);

before(() => {
  fs.mkdirSync(GROUP);
});

// Exited tasks leave a cgroup asynchronously (5.10 returns EBUSY right after the last one
// exits), so removal is retried for up to 5 s.
after(async () => {
  bulkhead('delete', '--force', ID);
  fs.rmSync(WORK, { recursive: true, force: true });
  for (let attempt = 0; ; attempt += 1) {
    try {
      fs.rmdirSync(GROUP);
      return;
    } catch (error) {
      if (error.code !== 'EBUSY' || attempt === 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
});

test('root is the unified hierarchy', () => {
  const mount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((line) => line.split(' ')[4] === ROOT);
  assert.ok(mount, `${ROOT} is not a mount point`);
  assert.match(mount, / - cgroup2 /);
});

test('no v1 hierarchy is mounted', () => {
  const v1 = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(' - cgroup '));
  assert.deepEqual(v1, []);
});

test('memory and pids controllers are available', () => {
  const controllers = readWords(path.join(ROOT, 'cgroup.controllers'));
  assert.ok(controllers.includes('memory'), `controllers: ${controllers}`);
  assert.ok(controllers.includes('pids'), `controllers: ${controllers}`);
});

test('child group gets delegated controllers', () => {
  fs.writeFileSync(path.join(ROOT, 'cgroup.subtree_control'), '+memory +pids');
  const controllers = readWords(path.join(GROUP, 'cgroup.controllers'));
  assert.ok(controllers.includes('memory'), `child controllers: ${controllers}`);
  assert.ok(controllers.includes('pids'), `child controllers: ${controllers}`);
});

test('memory.max is written and read back', () => {
  fs.writeFileSync(path.join(GROUP, 'memory.max'), String(64 * 1024 * 1024));
  assert.equal(fs.readFileSync(path.join(GROUP, 'memory.max'), 'utf8').trim(), String(64 * 1024 * 1024));
});

test('pids.max stops forks in the group', () => {
  fs.writeFileSync(path.join(GROUP, 'pids.max'), '3');
  // The shell joins the group itself, so its children are counted against pids.max.
  const script = `echo $$ > ${GROUP}/cgroup.procs; for i in 1 2 3 4 5 6; do sleep 1 & done; wait`;
  spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  const events = fs.readFileSync(path.join(GROUP, 'pids.events'), 'utf8');
  const max = Number(events.match(/^max (\d+)/m)?.[1]);
  assert.ok(max > 0, `pids.events: ${events.trim()}`);
});

/** Runs the bulkhead CLI with this suite's state root and returns the finished process. */
function bulkhead(...args) {
  return spawnSync(process.execPath, [BULKHEAD, '--root', STATE, ...args], { encoding: 'utf8', timeout: 120_000 });
}

// podman and containerd send these rules: deny every device, then allow some. bulkhead appends
// its defaults (/dev/null, /dev/zero, mknod of any node and others), and on cgroup v2 compiles the
// list into a BPF_PROG_TYPE_CGROUP_DEVICE program on the container's cgroup. /dev/kmsg (c 1:11)
// is created from linux.devices but is not among the defaults, so opening it must fail.
test('device rules are enforced by the BPF device program', () => {
  const bundle = path.join(WORK, 'devices');
  fs.mkdirSync(bundle);
  fs.cpSync(BUSYBOX, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  const spec = bulkhead('spec', '--bundle', bundle);
  assert.equal(spec.status, 0, spec.stderr);
  const configPath = path.join(bundle, 'config.json');
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  config.root.readonly = false;
  config.process.terminal = false;
  config.process.args = ['sh', '-c', 'head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; head -c 1 /dev/kmsg'];
  config.linux.devices = [{ path: '/dev/kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o644, uid: 0, gid: 0 }];
  config.linux.resources = { ...config.linux.resources, devices: [{ allow: false, access: 'rwm' }] };
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));

  const result = bulkhead('run', '--bundle', bundle, ID);
  assert.deepEqual(result.stdout.trim().split(/\s+/), ['4', 'null-ok'], result.stderr);
  assert.match(result.stderr, /\/dev\/kmsg.*Operation not permitted/);
  assert.notEqual(result.status, 0, 'opening /dev/kmsg succeeded');
});
