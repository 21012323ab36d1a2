// Turns downloaded Debian kernel packages into what a VM boots: an uncompressed
// vmlinux (qemu boots it through its PVH entry, which skips decompression and is
// about twice as fast under TCG) and the few modules the initramfs loads.
import fs from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { run } from './exec.mjs';

/** Modules the initramfs needs: the virtio PCI transport, 9p over virtio, and overlayfs. */
export const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const COMPRESSIONS = [
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), command: ['xz', '-dc', '--single-stream'] },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), command: ['zstd', '-dcq'] },
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]), command: ['gzip', '-dc'] },
];

/** Unpacks each .deb into root with dpkg-deb -x (handles the xz and zstd members of newer packages). */
export async function unpackDebs(debs, root) {
  await fs.mkdir(root, { recursive: true });
  for (const deb of debs) await run(`unpack ${path.basename(deb)}`, 'dpkg-deb', ['-x', deb, root]);
}

/**
 * Extracts the ELF vmlinux from a bzImage: finds each compressed-stream signature in the image and
 * decompresses from there until one yields an ELF file. Decompressors exit non-zero on the
 * trailing data after the stream, so the output is judged by its ELF magic, not the exit code.
 */
export function extractVmlinux(bzImage) {
  for (const { name, magic, command } of COMPRESSIONS) {
    for (let offset = bzImage.indexOf(magic); offset !== -1; offset = bzImage.indexOf(magic, offset + 1)) {
      const result = spawnSync(command[0], command.slice(1), { input: bzImage.subarray(offset), maxBuffer: 1 << 30 });
      if (result.error) throw new Error(`extract vmlinux: ${command[0]} failed to start: ${result.error.message}`);
      if (result.stdout.length > 4 && result.stdout.subarray(0, 4).equals(ELF_MAGIC)) return { vmlinux: result.stdout, compression: name };
    }
  }
  throw new Error('extract vmlinux: no xz, zstd or gzip stream in the image decompresses to an ELF file');
}

/** Finds lib/modules/<release> (or usr/lib/modules/<release> on merged-/usr packages) under root. */
export async function findModulesDir(root) {
  for (const base of ['lib/modules', 'usr/lib/modules']) {
    const entries = await fs.readdir(path.join(root, base)).catch(() => []);
    if (entries.length === 1) return { release: entries[0], dir: path.join(root, base, entries[0]), base };
    if (entries.length > 1) throw new Error(`find modules: ${base} in the kernel package has several releases: ${entries.join(', ')}`);
  }
  throw new Error(`find modules: no lib/modules/<release> in the unpacked kernel at ${root}`);
}

/** Returns the boot image path (vmlinuz-<release>) from the unpacked packages. */
export async function findBootImage(root, release) {
  for (const base of ['boot', 'usr/lib/linux', `usr/lib/modules/${release}`, `lib/modules/${release}`]) {
    for (const name of [`vmlinuz-${release}`, 'vmlinuz']) {
      const file = path.join(root, base, name);
      if (await fs.stat(file).then(() => true, () => false)) return file;
    }
  }
  throw new Error(`find kernel image: no vmlinuz-${release} in the unpacked kernel at ${root}`);
}

const moduleName = (file) => path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');

/** Parses modules.dep into a map from module name to { file, depends: [names] }. */
export function parseModulesDep(text) {
  const modules = new Map();
  for (const line of text.split('\n')) {
    const [file, rest] = line.split(':');
    if (!rest && rest !== '') continue;
    const depends = rest.trim().split(/\s+/).filter(Boolean).map(moduleName);
    modules.set(moduleName(file), { file, depends });
  }
  return modules;
}

/** Returns the names of built-in modules from modules.builtin. */
export function parseModulesBuiltin(text) {
  return new Set(text.split('\n').filter(Boolean).map(moduleName));
}

/**
 * Orders the wanted modules and their dependencies so that each comes after what it needs, and
 * leaves out built-in ones. Throws when a wanted module is neither a module nor built in.
 */
export function moduleLoadOrder(wanted, modules, builtin) {
  const order = [];
  const seen = new Set();
  const visit = (name, parent) => {
    if (seen.has(name)) return;
    seen.add(name);
    if (builtin.has(name)) return;
    const module = modules.get(name);
    if (!module) throw new Error(`module ${name}${parent ? ` (needed by ${parent})` : ''} is neither in modules.dep nor built in`);
    for (const dependency of module.depends) visit(dependency, name);
    order.push({ name, file: module.file });
  };
  for (const name of wanted) visit(name.replaceAll('-', '_'));
  return order;
}

/** Runs depmod on the unpacked tree (Debian ships no modules.dep; postinst makes it) without touching the host. */
export async function generateModulesDep(root, modulesInfo) {
  if (modulesInfo.base === 'usr/lib/modules') {
    // depmod -b looks in <base>/lib/modules, so give merged-/usr packages that path.
    await fs.symlink('usr/lib', path.join(root, 'lib')).catch((error) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  await run('depmod', 'depmod', ['-b', root, modulesInfo.release]);
}

/** Copies each module into dir, decompressing .ko.xz and .ko.zst so busybox insmod can load it. */
export async function copyModules(order, modulesDir, dir) {
  await fs.mkdir(dir, { recursive: true });
  const names = [];
  for (const [index, { name, file }] of order.entries()) {
    const source = path.join(modulesDir, file);
    const target = path.join(dir, `${String(index).padStart(2, '0')}-${name}.ko`);
    if (file.endsWith('.xz')) await run(`decompress ${name}`, '/bin/sh', ['-c', 'xz -dc "$0" > "$1"', source, target]);
    else if (file.endsWith('.zst')) await run(`decompress ${name}`, 'zstd', ['-dqf', source, '-o', target]);
    else if (file.endsWith('.gz')) await run(`decompress ${name}`, '/bin/sh', ['-c', 'gzip -dc "$0" > "$1"', source, target]);
    else await fs.copyFile(source, target);
    names.push(path.basename(target));
  }
  return names;
}
