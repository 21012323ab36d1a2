import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { parseDepends, sourcesFor, privateAptOptions } from '../lib/apt.mjs';
import { extractVmlinux, moduleLoadOrder, parseModulesBuiltin, parseModulesDep } from '../lib/kernel.mjs';

const MODULES_DEP = `kernel/fs/9p/9p.ko.xz: kernel/fs/netfs/netfs.ko.xz kernel/net/9p/9pnet.ko.xz
kernel/fs/netfs/netfs.ko.xz:
kernel/net/9p/9pnet.ko.xz:
kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/fs/overlayfs/overlay.ko.zst:
`;

test('modules.dep is parsed by module name', () => {
  const modules = parseModulesDep(MODULES_DEP);
  assert.deepEqual(modules.get('9p').depends, ['netfs', '9pnet']);
  assert.equal(modules.get('overlay').file, 'kernel/fs/overlayfs/overlay.ko.zst');
});

test('load order puts dependencies first once', () => {
  const order = moduleLoadOrder(['9pnet_virtio', '9p'], parseModulesDep(MODULES_DEP), new Set());
  assert.deepEqual(order.map((module) => module.name), ['9pnet', 'virtio_ring', '9pnet_virtio', 'netfs', '9p']);
});

test('built-in modules are left out', () => {
  const builtin = parseModulesBuiltin('kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/virtio/virtio_ring.ko\n');
  const order = moduleLoadOrder(['virtio_pci', '9pnet_virtio'], parseModulesDep(MODULES_DEP), builtin);
  assert.deepEqual(order.map((module) => module.name), ['9pnet', '9pnet_virtio']);
});

test('unknown module names its parent', () => {
  const modules = parseModulesDep('kernel/a.ko: kernel/b.ko\n');
  assert.throws(() => moduleLoadOrder(['a'], modules, new Set()), /module b \(needed by a\) is neither/);
});

test('vmlinux is found behind a setup header', () => {
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(4096, 7)]);
  for (const [tool, name] of [['xz', 'xz'], ['zstd', 'zstd'], ['gzip', 'gzip']]) {
    const compressed = spawnSync(tool, ['-c'], { input: elf }).stdout;
    // A fake gzip magic before the real stream must be skipped, as in a real bzImage header.
    const image = Buffer.concat([Buffer.alloc(512, 0), Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2]), compressed, Buffer.alloc(64, 0xff)]);
    const { vmlinux, compression } = extractVmlinux(image);
    assert.equal(compression, name);
    assert.ok(vmlinux.equals(elf));
  }
});

test('image without ELF stream is rejected', () => {
  assert.throws(() => extractVmlinux(Buffer.alloc(1024)), /no xz, zstd or gzip stream/);
});

test('apt depends output is parsed', () => {
  const output = `linux-image-amd64
  Depends: linux-image-6.1.0-57-amd64
 |Depends: dracut
  Depends: <linux-initramfs-tool>
  Recommends: apparmor
`;
  assert.deepEqual(parseDepends(output), ['linux-image-6.1.0-57-amd64', 'dracut']);
});

test('security suites use the security archive', () => {
  assert.match(sourcesFor('bookworm-security')[0], /debian-security bookworm-security main$/);
  assert.match(sourcesFor('trixie-backports')[0], /debian trixie-backports main$/);
});

test('private apt options replace every host path', () => {
  const options = privateAptOptions('/c/apt/sid').filter((_, index) => index % 2 === 1);
  assert.ok(options.includes('Dir::Etc::SourceList=/c/apt/sid/sources.list'));
  assert.ok(options.includes('Dir::Etc::SourceParts=/dev/null'));
  assert.ok(options.includes('Dir::State::status=/c/apt/sid/state/status'));
});
