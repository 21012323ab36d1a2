// Fetches Debian kernel packages with apt-get download, never installing them.
// A suite that the host's apt sources list is read through the host's apt state.
// Any other suite gets a private apt state under the cache, so the host's
// sources.list and package lists stay untouched.
import fs from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec.mjs';

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const LIST_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** Returns the sources.list lines for a suite (security suites live in a separate archive). */
export function sourcesFor(suite) {
  if (suite.endsWith('-security')) return [`deb http://deb.debian.org/debian-security ${suite} main`];
  return [`deb ${DEBIAN_MIRROR} ${suite} main`];
}

/** Returns the apt options that point apt-get and apt-cache at a private state under dir. */
export function privateAptOptions(dir) {
  return [
    '-o', `Dir::State=${dir}/state`,
    '-o', `Dir::State::status=${dir}/state/status`,
    '-o', `Dir::Cache=${dir}/cache`,
    '-o', `Dir::Etc::SourceList=${dir}/sources.list`,
    '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', 'Acquire::Languages=none',
    '-o', 'APT::Architectures=amd64',
  ];
}

/** Returns true when the host's apt sources already list suite/main. */
export async function hostListsSuite(suite) {
  const policy = await run('apt-cache policy', 'apt-cache', ['policy']);
  return policy.split('\n').some((line) => line.includes(` ${suite}/main amd64 Packages`));
}

/** Creates (or refreshes once a day) a private apt state for suite and returns its options. */
export async function preparePrivateApt(cacheDir, suite) {
  const dir = path.join(cacheDir, 'apt', suite);
  await fs.mkdir(path.join(dir, 'state', 'lists', 'partial'), { recursive: true });
  await fs.mkdir(path.join(dir, 'cache', 'archives', 'partial'), { recursive: true });
  await fs.writeFile(path.join(dir, 'sources.list'), sourcesFor(suite).join('\n') + '\n');
  // An empty dpkg status file: apt must not see the host's installed packages.
  await fs.writeFile(path.join(dir, 'state', 'status'), '', { flag: 'a' });

  const options = privateAptOptions(dir);
  const stamp = path.join(dir, 'updated');
  const age = await fs.stat(stamp).then((s) => Date.now() - s.mtimeMs, () => Infinity);
  if (age > LIST_MAX_AGE_MS) {
    await run(`apt-get update for ${suite}`, 'apt-get', [...options, '-q', 'update']);
    await fs.writeFile(stamp, new Date().toISOString() + '\n');
  }
  return options;
}

/** Parses `apt-cache depends` output into the names of the Depends entries. */
export function parseDepends(output) {
  return output
    .split('\n')
    .map((line) => line.match(/^\s*\|?Depends: (\S+)/))
    .filter(Boolean)
    .map((match) => match[1])
    .filter((name) => !name.startsWith('<'));
}

/**
 * Resolves linux-image-amd64 in the given apt state to the packages that carry the kernel image
 * and its modules. Debian 7.x kernels split linux-image-ABI into linux-binary-ABI (vmlinuz),
 * linux-modules-ABI and linux-base-ABI (modules.builtin, config), so those dependencies that
 * carry the ABI in their name are included.
 */
export async function resolveKernelPackages(aptOptions, metapackage = 'linux-image-amd64') {
  const depends = async (name) =>
    parseDepends(await run(`apt-cache depends ${name}`, 'apt-cache', [...aptOptions, 'depends', '--no-recommends', '--no-suggests', name]));

  const image = (await depends(metapackage)).find((name) => /^linux-image-\d/.test(name));
  if (!image) throw new Error(`resolve kernel: ${metapackage} depends on no linux-image-<version> package`);

  const abi = image.replace(/^linux-image-/, '').replace(/-unsigned$/, '');
  const extra = (await depends(image)).filter((name) => name.includes(abi) && /^linux-(base|binary|modules)-/.test(name));
  return { abi, packages: [image, ...extra] };
}

/** Downloads packages into dir with apt-get download and returns the .deb paths. */
export async function downloadPackages(aptOptions, packages, dir) {
  await fs.mkdir(dir, { recursive: true });
  await run(`apt-get download ${packages.join(' ')}`, 'apt-get', [...aptOptions, '-q', 'download', ...packages], { cwd: dir });
  const files = await fs.readdir(dir);
  return packages.map((name) => {
    const file = files.find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
    if (!file) throw new Error(`apt-get download: ${name} was not saved in ${dir}`);
    return path.join(dir, file);
  });
}
