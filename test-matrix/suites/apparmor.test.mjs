// AppArmor checks for kernels with the AppArmor LSM active (suites.json requires it, so other
// machines skip this suite). The suite loads a small profile with apparmor_parser and runs
// busybox containers under it with the bulkhead CLI. It checks from outside that the container's
// process carries the profile, and from inside that the denied write fails where the same write
// without the profile succeeds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BULKHEAD = path.join(REPO, 'packages/cli/bin/bulkhead.mjs');
const BUSYBOX = '/var/cache/bulkhead/fixtures/busybox/rootfs';
const PROFILE = `bulkhead-matrix-${process.pid}`;
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkhead-apparmor-'));
const STATE = path.join(WORK, 'state');
const PROFILE_FILE = path.join(WORK, 'profile');
const ID = `apparmor-${process.pid}`;

// Everything a busybox shell needs, with writes under /tmp denied. Paths are those of the
// container's mount namespace after pivot_root.
const PROFILE_TEXT = `profile ${PROFILE} flags=(attach_disconnected,mediate_deleted) {
  capability,
  file,
  network,
  signal,
  unix,
  deny /tmp/** w,
}
`;

/** Runs the bulkhead CLI with this suite's state root and returns the finished process. */
function bulkhead(...args) {
  return spawnSync(process.execPath, [BULKHEAD, '--root', STATE, ...args], { encoding: 'utf8', timeout: 120_000 });
}

/** Writes a bundle: a copy of the busybox root filesystem, writable, and a config.json with the profile. */
function makeBundle(name, args, profile) {
  const bundle = path.join(WORK, name);
  fs.mkdirSync(bundle);
  fs.cpSync(BUSYBOX, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  const result = bulkhead('spec', '--bundle', bundle);
  assert.equal(result.status, 0, result.stderr);
  const configPath = path.join(bundle, 'config.json');
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  config.root.readonly = false;
  config.process.terminal = false;
  config.process.args = args;
  if (profile !== undefined) config.process.apparmorProfile = profile;
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
  return bundle;
}

before(() => {
  fs.writeFileSync(PROFILE_FILE, PROFILE_TEXT);
  const load = spawnSync('apparmor_parser', ['--replace', PROFILE_FILE], { encoding: 'utf8' });
  assert.equal(load.status, 0, `apparmor_parser: ${load.stderr}`);
});

after(() => {
  bulkhead('delete', '--force', ID);
  spawnSync('apparmor_parser', ['--remove', PROFILE_FILE], { encoding: 'utf8' });
  fs.rmSync(WORK, { recursive: true, force: true });
});

test('profile is listed as loaded', () => {
  const profiles = fs.readFileSync('/sys/kernel/security/apparmor/profiles', 'utf8');
  assert.match(profiles, new RegExp(`^${PROFILE} \\(enforce\\)$`, 'm'));
});

test('features report apparmor enabled', () => {
  const result = bulkhead('features');
  assert.equal(result.status, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).linux.apparmor.enabled, true);
});

test('container init runs under the profile', () => {
  const bundle = makeBundle('init', ['sh', '-c', 'cat /proc/self/attr/current; echo x > /tmp/denied'], PROFILE);
  const result = bulkhead('run', '--bundle', bundle, `${ID}-init`);
  assert.equal(result.stdout.trim(), `${PROFILE} (enforce)`);
  assert.notEqual(result.status, 0, 'the write to /tmp succeeded under the profile');
  assert.match(result.stderr, /Permission denied/);
});

test('same write succeeds without the profile', () => {
  const bundle = makeBundle('unconfined', ['sh', '-c', 'cat /proc/self/attr/current; echo x > /tmp/allowed'], undefined);
  const result = bulkhead('run', '--bundle', bundle, `${ID}-unconfined`);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'unconfined');
});

test('running container shows the profile from outside', async (t) => {
  const bundle = makeBundle('running', ['sleep', '300'], PROFILE);
  const created = bulkhead('create', '--bundle', bundle, ID);
  assert.equal(created.status, 0, created.stderr);
  const started = bulkhead('start', ID);
  assert.equal(started.status, 0, started.stderr);
  const { pid } = JSON.parse(bulkhead('state', ID).stdout);

  await t.test('attr/current of the process', () => {
    assert.equal(fs.readFileSync(`/proc/${pid}/attr/current`, 'utf8').trim(), `${PROFILE} (enforce)`);
  });

  await t.test('exec inherits the profile', () => {
    const denied = bulkhead('exec', ID, 'sh', '-c', 'echo x > /tmp/by-exec');
    assert.notEqual(denied.status, 0, 'the write to /tmp succeeded in exec');
    assert.match(denied.stderr, /Permission denied/);
    const allowed = bulkhead('exec', ID, 'sh', '-c', 'echo x > /allowed && cat /allowed');
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.equal(allowed.stdout.trim(), 'x');
  });

  await t.test('audit stream records the profile', () => {
    const events = bulkhead('audit', ID)
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const applied = events.filter((event) => event.action === 'apparmor.profile.set');
    assert.deepEqual(
      applied.map((event) => [event.process, event.detail.profile]),
      [
        ['init', PROFILE],
        ['exec', PROFILE],
        ['exec', PROFILE],
      ],
    );
  });
});

test('profile that is not loaded is rejected', () => {
  const bundle = makeBundle('missing', ['true'], `${PROFILE}-missing`);
  const result = bulkhead('run', '--bundle', bundle, `${ID}-missing`);
  assert.equal(result.status, 1);
  assert.match(result.stderr, new RegExp(`process\\.apparmorProfile: AppArmor profile "${PROFILE}-missing" is not loaded`));
});
