import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { GUEST_OUT_DIR, guestCommand, runInVagrant, vagrantCommands, vagrantfile } from '../lib/vagrant.mjs';

test('vagrantfile syncs repo to the same path', () => {
  const text = vagrantfile({ box: 'debian/bookworm64', repo: '/work/main', outDir: '/tmp/out' });
  assert.match(text, /config\.vm\.box = "debian\/bookworm64"/);
  assert.match(text, /synced_folder "\/work\/main", "\/work\/main"/);
  assert.match(text, new RegExp(`synced_folder "/tmp/out", "${GUEST_OUT_DIR}"`));
});

test('vagrantfile escapes ruby strings', () => {
  const text = vagrantfile({ box: 'a"b#{x}', repo: '/r', outDir: '/o' });
  assert.match(text, /config\.vm\.box = "a\\"b\\#\{x\}"/);
});

test('vagrantfile without box is rejected', () => {
  assert.throws(() => vagrantfile({ repo: '/r', outDir: '/o' }), /missing box name/);
});

test('guest command quotes the script', () => {
  const command = guestCommand({ repo: "/work/it's", script: "echo 'hi'" });
  assert.equal(command, `cd '/work/it'\\''s' && sudo env BULKHEAD_VM=1 BULKHEAD_VM_OUT=${GUEST_OUT_DIR} sh -c 'echo '\\''hi'\\'''; echo $? | sudo tee ${GUEST_OUT_DIR}/exit-code >/dev/null`);
});

test('commands are up, ssh, destroy', () => {
  const commands = vagrantCommands({ repo: '/work/main', script: 'true' });
  assert.deepEqual(commands.map((command) => command.slice(0, 2)), [['vagrant', 'up'], ['vagrant', 'ssh'], ['vagrant', 'destroy']]);
  assert.deepEqual(commands[2], ['vagrant', 'destroy', '--force']);
});

test('keep halts instead of destroying', () => {
  assert.deepEqual(vagrantCommands({ repo: '/r', script: 'true', keep: true })[2], ['vagrant', 'halt']);
});

test('run writes Vagrantfile and runs commands', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vagrant-test-'));
  const calls = [];
  const exec = async (command, cwd) => {
    calls.push({ command, cwd });
    if (command[1] === 'ssh') await fs.writeFile(path.join(dir, 'out', 'exit-code'), '3\n');
  };
  const code = await runInVagrant({ workDir: path.join(dir, 'work'), outDir: path.join(dir, 'out'), box: 'b', repo: '/work/main', script: 'true', exec });
  assert.equal(code, 3);
  assert.deepEqual(calls.map((call) => call.command[1]), ['up', 'ssh', 'destroy']);
  assert.ok(calls.every((call) => call.cwd === path.join(dir, 'work')));
  assert.match(await fs.readFile(path.join(dir, 'work', 'Vagrantfile'), 'utf8'), /config\.vm\.box = "b"/);
  await fs.rm(dir, { recursive: true });
});

test('run destroys the box when ssh fails', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vagrant-test-'));
  const calls = [];
  const exec = async (command) => {
    calls.push(command[1]);
    if (command[1] === 'ssh') throw new Error('vagrant ssh: failed');
  };
  await assert.rejects(runInVagrant({ workDir: dir, outDir: path.join(dir, 'out'), box: 'b', repo: '/r', script: 'true', exec }), /vagrant ssh: failed/);
  assert.deepEqual(calls, ['up', 'ssh', 'destroy']);
  await fs.rm(dir, { recursive: true });
});

test('run without exit code returns null', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vagrant-test-'));
  const code = await runInVagrant({ workDir: dir, outDir: path.join(dir, 'out'), box: 'b', repo: '/r', script: 'true', exec: async () => {} });
  assert.equal(code, null);
  await fs.rm(dir, { recursive: true });
});
