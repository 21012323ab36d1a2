// The kernel cache: one folder per kernel with vmlinux, the initramfs and kernel.json.
// Everything is unpacked from .deb files into the cache; nothing is installed on the host.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadPackages, hostListsSuite, preparePrivateApt, resolveKernelPackages } from './apt.mjs';
import {
  INITRAMFS_MODULES, copyModules, extractVmlinux, findBootImage, findModulesDir,
  generateModulesDep, moduleLoadOrder, parseModulesBuiltin, parseModulesDep, unpackDebs,
} from './kernel.mjs';
import { run } from './exec.mjs';

export const DEFAULT_CACHE_DIR = process.env.BULKHEAD_VM_CACHE || '/var/cache/bulkhead/vm';
const GUEST_DIR = fileURLToPath(new URL('../guest/', import.meta.url));
const BUSYBOX = '/bin/busybox';

/** Returns the folder of a kernel in the cache. */
export const kernelDir = (cacheDir, id) => path.join(cacheDir, 'kernels', id);

/**
 * Reads kernel.json of a prepared kernel. Returns null when the kernel is not in the cache, or was
 * cached without its module tree by an older version of this file, so that it is unpacked again.
 */
export async function readKernel(cacheDir, id) {
  const text = await fs.readFile(path.join(kernelDir(cacheDir, id), 'kernel.json'), 'utf8').catch(() => null);
  const info = text && JSON.parse(text);
  return info?.moduleTree ? info : null;
}

/**
 * Downloads and unpacks the kernel { id, suite } into the cache unless it is there, then
 * (re)builds its initramfs. onProgress receives one short line per step.
 */
export async function prepareKernel(cacheDir, kernel, onProgress = () => {}) {
  let info = await readKernel(cacheDir, kernel.id);
  if (!info) info = await fetchKernel(cacheDir, kernel, onProgress);
  onProgress('building initramfs');
  await buildInitramfs(kernelDir(cacheDir, kernel.id), info);
  return { ...info, dir: kernelDir(cacheDir, kernel.id) };
}

async function fetchKernel(cacheDir, { id, suite, metapackage }, onProgress) {
  const useHost = await hostListsSuite(suite);
  onProgress(useHost ? `resolving linux-image-amd64 in ${suite} (host apt sources)` : `updating a private apt state for ${suite}`);
  const aptOptions = useHost ? [] : await preparePrivateApt(cacheDir, suite);
  const { abi, packages } = await resolveKernelPackages(aptOptions, metapackage);

  onProgress(`downloading ${packages.join(', ')}`);
  const debs = await downloadPackages(aptOptions, packages, path.join(cacheDir, 'debs'));

  const scratch = await fs.mkdtemp(path.join(cacheDir, `unpack-${id}-`));
  try {
    onProgress('unpacking');
    await unpackDebs(debs, scratch);
    const info = await extractKernel(scratch, kernelDir(cacheDir, id), onProgress);
    const full = { id, suite, abi, packages: debs.map((deb) => path.basename(deb)), aptSource: useHost ? 'host' : 'private', ...info };
    await fs.writeFile(path.join(kernelDir(cacheDir, id), 'kernel.json'), JSON.stringify(full, null, 2) + '\n');
    return full;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

async function extractKernel(root, dir, onProgress) {
  const modulesInfo = await findModulesDir(root);
  const bootImage = await findBootImage(root, modulesInfo.release);

  onProgress('extracting vmlinux');
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const { vmlinux, compression } = extractVmlinux(await fs.readFile(bootImage));
  await fs.writeFile(path.join(dir, 'vmlinux'), vmlinux);
  await fs.copyFile(bootImage, path.join(dir, 'vmlinuz'));

  onProgress('collecting modules');
  await generateModulesDep(root, modulesInfo);
  const modules = parseModulesDep(await fs.readFile(path.join(modulesInfo.dir, 'modules.dep'), 'utf8'));
  const builtinText = await fs.readFile(path.join(modulesInfo.dir, 'modules.builtin'), 'utf8').catch(() => '');
  const order = moduleLoadOrder(INITRAMFS_MODULES, modules, parseModulesBuiltin(builtinText));
  const moduleFiles = await copyModules(order, modulesInfo.dir, path.join(dir, 'modules'));
  // The whole tree too, with its modules.dep: the VM mounts it for the modules loaded on demand.
  const moduleTree = 'module-tree';
  await fs.rename(modulesInfo.dir, path.join(dir, moduleTree));
  return { release: modulesInfo.release, vmlinuzCompression: compression, modules: moduleFiles, moduleTree };
}

/** Builds initramfs.cpio (uncompressed newc) from busybox, guest/init and the kernel's modules. */
async function buildInitramfs(dir, info) {
  const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'bulkhead-initramfs-'));
  try {
    for (const sub of ['bin', 'dev', 'proc', 'sys', 'newroot', 'lib/modules']) await fs.mkdir(path.join(staging, sub), { recursive: true });
    await fs.copyFile(BUSYBOX, path.join(staging, 'bin/busybox'));
    await fs.chmod(path.join(staging, 'bin/busybox'), 0o755);
    await fs.symlink('busybox', path.join(staging, 'bin/sh'));
    await fs.copyFile(path.join(GUEST_DIR, 'init'), path.join(staging, 'init'));
    await fs.chmod(path.join(staging, 'init'), 0o755);
    for (const name of info.modules) await fs.copyFile(path.join(dir, 'modules', name), path.join(staging, 'lib/modules', name));

    const output = path.join(dir, 'initramfs.cpio');
    await run('build initramfs', '/bin/sh', ['-c', 'cd "$0" && find . | cpio -o -H newc --quiet -R 0:0 > "$1"', staging, output]);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}
