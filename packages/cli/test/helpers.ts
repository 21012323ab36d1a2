import { spawn, type SpawnOptions } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type TestFn } from 'ava';
import { TIME_SCALE } from '@bulkhead/core/testing';

export const BULKHEAD = fileURLToPath(new URL('../../bin/bulkhead.mjs', import.meta.url));

/** Tests that run containers need root; elsewhere they are skipped with that reason. */
export const rootTest: TestFn = process.getuid?.() === 0 ? test : (test.skip as unknown as TestFn);
if (process.getuid?.() !== 0) test('integration tests are skipped: they need root', (t) => t.pass());

/** The cached busybox and Debian minbase root filesystems, built by scripts/fixtures.mjs on first use. */
export async function fixtures(): Promise<{ busybox: string; debian: string }> {
  // Resolved at run time from dist/test, because scripts/ is outside this package's sources.
  const module = (await import(new URL('../../../../scripts/fixtures.mjs', import.meta.url).href)) as { ensureFixtures(): Promise<{ busybox: string; debian: string }> };
  return module.ensureFixtures();
}

export { TIME_SCALE } from '@bulkhead/core/testing';

/** Seconds that a container which must outlive every step of its test sleeps, scaled like the waits. */
export const RUNNING_SECONDS = String(30 * TIME_SCALE);

/**
 * Calls `condition` every 25 ms until it returns true; throws after 30 s times TIME_SCALE. The
 * limit is generous because it only bounds a failing test: a loaded machine can take seconds
 * just to start the Node process that a condition waits for.
 */
export async function waitFor(condition: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 30_000 * TIME_SCALE;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`condition not met within ${30 * TIME_SCALE} s`);
}

/**
 * Returns a container id unique to this test process. Cgroup paths are global to the host, so two test
 * runs (or a run and a leftover) must never share an id.
 */
export function uniqueId(name: string): string {
  return `${name}-${process.pid}`;
}

/** Creates a temporary directory, removed when the test process exits. */
export function temporaryDir(prefix: string): string {
  const path = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(path, { recursive: true, force: true }));
  return path;
}

/** A fresh state root per test, so tests can check that nothing is left behind. */
export function stateRoot(): string {
  return temporaryDir('bulkhead-state-');
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the bulkhead command line to completion. NODE_EXTRA_CA_CERTS is dropped: it only slows Node's start. */
export function bulkhead(args: string[], options: SpawnOptions & { input?: string } = {}): Promise<Result> {
  return runProgram(process.execPath, [BULKHEAD, ...args], options);
}

/** Runs a program to completion, as `bulkhead` runs the command line. */
export function runProgram(file: string, args: string[], options: SpawnOptions & { input?: string } = {}): Promise<Result> {
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'], ...options });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.stdin!.end(options.input ?? '');
  return new Promise((resolve) => {
    // A detached container keeps the command's stdout and stderr open, so 'close' would wait for
    // the container: after 'exit', only wait briefly for output that is still in the pipes.
    child.on('exit', (code, signal) => setTimeout(() => resolve({ code, signal, stdout, stderr }), 50));
  });
}

/**
 * Makes an OCI bundle on a copy of the busybox root, with config.json from `bulkhead spec` and
 * the given changes, in `dir` or in a new temporary directory.
 */
export async function ociBundle(change: (config: Record<string, any>) => void = () => {}, dir = temporaryDir('bulkhead-bundle-')): Promise<string> {
  const { busybox } = await fixtures();
  cpSync(busybox, join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  change(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** Mount points of this process's mount namespace, in the host's view. */
export function hostMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').slice(3, 5).join(' '));
}

export function listDir(path: string): string[] {
  return readdirSync(path);
}

/** Lists directories named bulkhead anywhere in the cgroup hierarchies: what a run must not leave behind. */
export function leftoverCgroups(id: string): string[] {
  const found: string[] = [];
  // /sys/fs/cgroup itself is the unified hierarchy on a cgroup v2 host, and contains the v1 ones on others.
  const bases = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((hierarchy) => `/sys/fs/cgroup/${hierarchy}`)];
  for (const base of bases) {
    for (const candidate of [`${base}/bulkhead/${id}`, ...ownCgroupParents(base).map((parent) => `${parent}/bulkhead/${id}`)]) {
      if (existsSync(candidate)) found.push(candidate);
    }
  }
  return found;
}

function ownCgroupParents(base: string): string[] {
  try {
    return readdirSync(base, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .flatMap((entry) => readdirSync(`${base}/${entry.name}`, { withFileTypes: true }).filter((inner) => inner.isDirectory()).map((inner) => `${base}/${entry.name}/${inner.name}`));
  } catch {
    return [];
  }
}
