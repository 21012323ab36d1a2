import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyBoot, kernelCommandLine, qemuArgs } from '../lib/qemu.mjs';

test('cgroup v2 cmdline disables v1', () => {
  const cmdline = kernelCommandLine({ cgroup: 'v2', repo: '/work/main' }).split(' ');
  assert.ok(cmdline.includes('cgroup_no_v1=all'));
  assert.ok(cmdline.includes('bulkhead.cgroup=v2'));
  assert.ok(cmdline.includes('bulkhead.repo=/work/main'));
  assert.ok(cmdline.includes('panic=-1'));
});

test('cgroup v1 cmdline keeps v1', () => {
  const cmdline = kernelCommandLine({ cgroup: 'v1', repo: '/r' }).split(' ');
  assert.ok(!cmdline.includes('cgroup_no_v1=all'));
  assert.ok(cmdline.includes('bulkhead.cgroup=v1'));
});

test('invalid cgroup mode is rejected', () => {
  assert.throws(() => kernelCommandLine({ cgroup: 'v3', repo: '/r' }), /invalid cgroup mode "v3"/);
});

test('qemu args have no network and share three folders', () => {
  const args = qemuArgs({ kernel: '/k/vmlinux', initrd: '/k/initramfs.cpio', accel: 'tcg', cmdline: 'x', repo: '/work/main', outDir: '/tmp/out' });
  const text = args.join(' ');
  assert.equal(args[args.indexOf('-nic') + 1], 'none');
  assert.equal(args[args.indexOf('-kernel') + 1], '/k/vmlinux');
  assert.match(text, /path=\/,security_model=passthrough,multidevs=remap,readonly=on/);
  assert.match(text, /path=\/work\/main,security_model=passthrough,multidevs=remap -device/);
  assert.match(text, /mount_tag=out/);
  assert.equal(args[args.indexOf('-cpu') + 1], 'max');
  assert.ok(args.includes('-no-reboot'));
});

test('the module tree is shared read-only when there is one', () => {
  const base = { kernel: 'k', initrd: 'i', accel: 'tcg', cmdline: 'x', repo: '/r', outDir: '/o' };
  assert.match(qemuArgs({ ...base, modulesDir: '/c/6.1/module-tree' }).join(' '), /path=\/c\/6\.1\/module-tree,[^ ]*readonly=on -device virtio-9p-pci,fsdev=modules,mount_tag=modules/);
  assert.doesNotMatch(qemuArgs(base).join(' '), /mount_tag=modules/);
});

test('kvm uses the host cpu', () => {
  const args = qemuArgs({ kernel: 'k', initrd: 'i', accel: 'kvm', cmdline: 'x', repo: '/r', outDir: '/o' });
  assert.equal(args[args.indexOf('-cpu') + 1], 'host');
  assert.equal(args[args.indexOf('-machine') + 1], 'pc,accel=kvm');
});

test('exit code is the job result', () => {
  assert.deepEqual(classifyBoot({ exitCodeText: '1\n', serial: 'ok', timedOut: false }), { exitCode: 1 });
  assert.deepEqual(classifyBoot({ exitCodeText: '0\n', serial: 'ok', timedOut: false }), { exitCode: 0 });
});

test('missing exit code is infrastructure failure', () => {
  const result = classifyBoot({ exitCodeText: null, serial: 'boot', timedOut: false });
  assert.match(result.infrastructureFailure, /without writing an exit code/);
});

test('panic is infrastructure failure even with exit code', () => {
  const result = classifyBoot({ exitCodeText: '0', serial: '[ 1.0] Kernel panic - not syncing: VFS', timedOut: false });
  assert.match(result.infrastructureFailure, /Kernel panic/);
});

test('init failure reason is reported', () => {
  const result = classifyBoot({ exitCodeText: null, serial: 'bulkhead-vm: infrastructure failure: insmod x failed\n', timedOut: false });
  assert.equal(result.infrastructureFailure, 'insmod x failed');
});

test('timeout is infrastructure failure', () => {
  assert.deepEqual(classifyBoot({ exitCodeText: null, serial: '', timedOut: true }), { infrastructureFailure: 'timed out' });
});
