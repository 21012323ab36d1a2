// Builds and caches the root filesystems that the integration tests and the
// bench run containers in. `node scripts/fixtures.mjs` (or `npx
// bulkhead-fixtures` where this package is installed) prints their paths as JSON:
//   {"busybox":"/var/cache/bulkhead/fixtures/busybox/rootfs","debian":"..."}
//
// Each fixture lives in <cache>/<name>/ with rootfs/ and stamp.json. It is
// built in a temporary sibling directory and renamed into place only when
// complete, so a directory named <name> is always a finished build. A stamp
// whose version differs from the recipe below makes the fixture rebuild.
// Builds run under flock(1) on <cache>/.lock, so concurrent callers (ava
// workers in separate processes) wait for one build instead of racing.
// Building needs root, because debootstrap and chroot do.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

const CACHE_DIR = process.env.BULKHEAD_FIXTURES || '/var/cache/bulkhead/fixtures';
const BUSYBOX = '/bin/busybox';
const DEBOOTSTRAP = '/usr/sbin/debootstrap';
const DEBIAN_SUITE = 'bookworm';
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

// Bump a version whenever its build function changes what ends up in the rootfs.
const RECIPES = {
  busybox: { version: 1, build: buildBusybox },
  debian: { version: 1, build: buildDebian },
};

let pending;

/** Builds any missing or outdated fixture and returns the rootfs paths. */
export function ensureFixtures() {
  pending ??= ensureAll().catch((error) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function ensureAll() {
  const names = Object.keys(RECIPES);
  const outdated = names.filter((name) => !isCurrent(name));
  if (outdated.length > 0) {
    if (process.getuid() !== 0) {
      throw new Error(`building the ${outdated.join(' and ')} fixtures in ${CACHE_DIR} requires root (debootstrap and chroot do); run node scripts/fixtures.mjs (or npx bulkhead-fixtures) as root first`);
    }
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    await withLock(path.join(CACHE_DIR, '.lock'), () => buildOutdated());
  }
  return Object.fromEntries(names.map((name) => [name, rootfsPath(name)]));
}

function fixtureDir(name) {
  return path.join(CACHE_DIR, name);
}

function rootfsPath(name) {
  return path.join(fixtureDir(name), 'rootfs');
}

function isCurrent(name) {
  try {
    const stamp = JSON.parse(fs.readFileSync(path.join(fixtureDir(name), 'stamp.json'), 'utf8'));
    return stamp.version === RECIPES[name].version;
  } catch {
    return false;
  }
}

// Runs under the lock. Checks again because another process may have built
// the fixtures while this one waited.
async function buildOutdated() {
  removeAbandonedBuilds();
  for (const name of Object.keys(RECIPES)) {
    if (!isCurrent(name)) {
      await buildFixture(name);
    }
  }
}

async function buildFixture(name) {
  const { version, build } = RECIPES[name];
  log(`building the ${name} fixture in ${fixtureDir(name)}`);
  const started = Date.now();
  const buildDir = fs.mkdtempSync(path.join(CACHE_DIR, `.${name}.building-`));
  fs.chmodSync(buildDir, 0o755);
  const rootfs = path.join(buildDir, 'rootfs');
  fs.mkdirSync(rootfs);
  fs.chmodSync(rootfs, 0o755);
  try {
    await build(rootfs);
  } catch (error) {
    removeTree(buildDir);
    throw error;
  }
  const stamp = { fixture: name, version, builtAt: new Date().toISOString() };
  fs.writeFileSync(path.join(buildDir, 'stamp.json'), `${JSON.stringify(stamp, null, 2)}\n`);
  discard(fixtureDir(name));
  fs.renameSync(buildDir, fixtureDir(name));
  log(`built the ${name} fixture in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// Holding the lock means no build is running, so any build directory left in
// the cache comes from a build that was interrupted.
function removeAbandonedBuilds() {
  for (const entry of fs.readdirSync(CACHE_DIR)) {
    if (/^\.[a-z]+\.(building|outdated)-/.test(entry)) {
      log(`removing the abandoned build ${entry}`);
      removeTree(path.join(CACHE_DIR, entry));
    }
  }
}

// Moves an outdated fixture aside in one rename, so that no reader ever sees
// a half-deleted rootfs under the fixture's name, then deletes it.
function discard(dir) {
  if (!fs.existsSync(dir)) {
    return;
  }
  const aside = `${path.dirname(dir)}/.${path.basename(dir)}.outdated-${process.pid}`;
  fs.renameSync(dir, aside);
  removeTree(aside);
}

// An interrupted debootstrap can leave proc, sys and bind mounts of host
// device nodes inside its target. Unmount them first so that the recursive
// delete stays inside the build directory.
function removeTree(dir) {
  for (const mountPoint of mountPointsUnder(dir)) {
    const { status } = spawnSync('umount', ['--lazy', mountPoint], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (status !== 0) {
      throw new Error(`failed to unmount ${mountPoint} (umount exited with status ${status}); unmount it by hand, then remove ${dir}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

// Returns the mount points below dir, deepest first, from /proc/self/mountinfo
// (field 5 is the mount point, with spaces and other bytes octal-escaped).
function mountPointsUnder(dir) {
  const prefix = `${fs.realpathSync(dir)}/`;
  return fs.readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8))))
    .filter((mountPoint) => mountPoint.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

// --- busybox ---------------------------------------------------------------

async function buildBusybox(rootfs) {
  requireBusyboxStatic();
  fs.mkdirSync(path.join(rootfs, 'bin'));
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  await linkApplets(rootfs);
  writeBusyboxEtc(rootfs);
  makeDir(rootfs, 'proc', 0o555);
  makeDir(rootfs, 'sys', 0o555);
  makeDir(rootfs, 'dev', 0o755);
  makeDir(rootfs, 'tmp', 0o1777);
  makeDir(rootfs, 'root', 0o700);
  // Proves that the copied binary runs without a dynamic loader or libraries.
  await run('chroot', [rootfs, '/bin/true']);
}

// Debian's busybox package (dynamically linked) also installs /bin/busybox,
// but it cannot run in a rootfs without libc, so require busybox-static.
function requireBusyboxStatic() {
  const result = spawnSync('dpkg-query', ['--show', '--showformat=${Status}', 'busybox-static'], { encoding: 'utf8' });
  if (result.status !== 0 || !result.stdout.startsWith('install ok installed') || !fs.existsSync(BUSYBOX)) {
    throw new Error('busybox-static is not installed: run apt-get install busybox-static');
  }
}

// Creates the same symlinks as `busybox --install -s`, without needing a chroot.
async function linkApplets(rootfs) {
  const { stdout } = await run(BUSYBOX, ['--list-full'], { capture: true });
  for (const applet of stdout.split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox') {
      continue;
    }
    const link = path.join(rootfs, applet);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync('/bin/busybox', link);
  }
}

function writeBusyboxEtc(rootfs) {
  fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  const files = {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    'etc/os-release': [
      'NAME="bulkhead busybox fixture"',
      'ID=bulkhead-busybox',
      `VERSION_ID=${RECIPES.busybox.version}`,
      'PRETTY_NAME="bulkhead busybox fixture"',
      '',
    ].join('\n'),
  };
  for (const [file, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(rootfs, file), content, { mode: 0o644 });
  }
}

// mkdirSync applies the umask, so set the mode explicitly (tmp needs the sticky bit).
function makeDir(rootfs, name, mode) {
  const dir = path.join(rootfs, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, mode);
}

// --- debian ----------------------------------------------------------------

async function buildDebian(rootfs) {
  if (!fs.existsSync(DEBOOTSTRAP)) {
    throw new Error('debootstrap is not installed: run apt-get install debootstrap');
  }
  if (!fs.existsSync(DEBIAN_KEYRING)) {
    throw new Error(`${DEBIAN_KEYRING} is missing: run apt-get install debian-archive-keyring`);
  }
  const mirror = findDebianMirror();
  log(`running debootstrap for ${DEBIAN_SUITE} from ${mirror}; this takes a few minutes`);
  // run() sends debootstrap's progress to stderr, keeping stdout free for the JSON result.
  await run(DEBOOTSTRAP, ['--variant=minbase', `--keyring=${DEBIAN_KEYRING}`, DEBIAN_SUITE, rootfs, mirror]);
}

// Returns the URI of the first apt source that serves the bookworm suite, or
// else of the first source whose path ends in /debian. Reads both the one-line
// (.list) and the deb822 (.sources) formats.
function findDebianMirror() {
  const sources = readAptSources();
  const bySuite = sources.find((source) => source.suites.includes(DEBIAN_SUITE));
  const byPath = sources.find((source) => /\/debian\/?$/.test(source.uri));
  const found = bySuite ?? byPath;
  if (!found) {
    throw new Error(`no apt source for Debian ${DEBIAN_SUITE} found in /etc/apt/sources.list or /etc/apt/sources.list.d/`);
  }
  return found.uri;
}

function readAptSources() {
  const files = ['/etc/apt/sources.list'];
  const dropInDir = '/etc/apt/sources.list.d';
  if (fs.existsSync(dropInDir)) {
    files.push(...fs.readdirSync(dropInDir).sort().map((file) => path.join(dropInDir, file)));
  }
  const sources = [];
  for (const file of files.filter((file) => fs.existsSync(file))) {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.list')) {
      sources.push(...parseOneLineSources(text));
    } else if (file.endsWith('.sources')) {
      sources.push(...parseDeb822Sources(text));
    }
  }
  return sources;
}

// Parses lines such as `deb [signed-by=...] http://deb.debian.org/debian bookworm main`.
function parseOneLineSources(text) {
  const sources = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').replace(/\[[^\]]*\]/, '').trim();
    const [type, uri, suite] = line.split(/\s+/);
    if (type === 'deb' && uri && suite) {
      sources.push({ uri, suites: [suite] });
    }
  }
  return sources;
}

// Parses deb822 stanzas with Types, URIs and Suites fields. Skips stanzas
// marked Enabled: no.
function parseDeb822Sources(text) {
  const sources = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = {};
    for (const line of stanza.split('\n')) {
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (match) {
        fields[match[1].toLowerCase()] = match[2].trim().split(/\s+/);
      }
    }
    if (!fields.types?.includes('deb') || fields.enabled?.[0] === 'no') {
      continue;
    }
    for (const uri of fields.uris ?? []) {
      sources.push({ uri, suites: fields.suites ?? [] });
    }
  }
  return sources;
}

// --- processes and locking --------------------------------------------------

// Runs a command with stdin closed and stderr inherited, and rejects with a
// one-line error when it fails. stdout is captured, or sent to stderr.
async function run(command, args, { capture = false } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', capture ? 'pipe' : 2, 'inherit'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk) => { output += chunk; });
  const [status, signal] = await new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`failed to start ${command}: ${error.message}`)));
    child.on('close', (code, signalName) => resolve([code, signalName]));
  });
  if (status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed with ${signal ?? `exit status ${status}`}`);
  }
  return { stdout: output };
}

// Holds an exclusive flock(1) on lockFile while fn runs. The lock belongs to a
// child `flock` process whose command waits for its stdin to close, so the
// kernel drops the lock when this process exits for any reason, and a crashed
// build never leaves a stale lock behind.
async function withLock(lockFile, fn) {
  const holder = spawn('flock', ['--exclusive', lockFile, 'sh', '-c', 'echo locked && exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waitingNotice = setTimeout(() => log(`waiting for another process to finish building fixtures (lock ${lockFile})`), 1000);
  try {
    await waitForLock(holder, lockFile);
  } finally {
    clearTimeout(waitingNotice);
  }
  try {
    return await fn();
  } finally {
    holder.stdin.end();
    await once(holder, 'close');
  }
}

function waitForLock(holder, lockFile) {
  return new Promise((resolve, reject) => {
    holder.on('error', (error) => reject(new Error(`failed to start flock (from util-linux) for ${lockFile}: ${error.message}`)));
    holder.on('close', (status) => reject(new Error(`flock on ${lockFile} exited with status ${status} before taking the lock`)));
    holder.stdout.setEncoding('utf8').once('data', (line) => {
      if (line.startsWith('locked')) {
        resolve();
      } else {
        reject(new Error(`unexpected output from flock on ${lockFile}: ${line.trim()}`));
      }
    });
  });
}

function log(message) {
  process.stderr.write(`fixtures: ${message}\n`);
}

/** Builds the fixtures and prints their paths as JSON; sets a non-zero exit code on failure. */
export async function main() {
  try {
    const paths = await ensureFixtures();
    process.stdout.write(`${JSON.stringify(paths)}\n`);
  } catch (error) {
    log(error.message);
    process.exitCode = 1;
  }
}
