import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCodeOf, type ContainerSpec, type Plugin, type Runtime } from '@bulkhead/core';
import { createRuntime } from '@bulkhead/cli';
import { ensureFixtures } from '@bulkhead/testkit/fixtures';
import { baseSpec } from './plan.js';

/** Output and exit code of a throwaway container. */
export interface ContainerResult {
  /** Exit code, or 128 + N when killed by signal N, as a shell reports it. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ContainerOptions {
  /** Plugins under test, added to the reference runtime (pid, mount, uts, ipc, cgroup, rlimit, hooks). */
  plugins?: Plugin[];
  /** Builds the runtime instead of the reference one; it must use `stateRoot`. */
  runtime?: (stateRoot: string) => Runtime;
  /** A fixture name, copied for this container, or a directory of your own (never a fixture path). Default busybox. */
  rootfs?: 'busybox' | 'debian' | { path: string };
  /** Edits the spec before it is created; the default is `baseSpec(args, rootfsCopy)`. */
  spec?: (spec: ContainerSpec) => void;
}

/**
 * Runs `args` in a throwaway container and returns its exit code and output. The fixture root
 * filesystem is copied first and the copy, the state root and the container are removed
 * afterwards, also when the run fails. Needs root, as containers do.
 */
export async function runContainer(args: string[], options: ContainerOptions = {}): Promise<ContainerResult> {
  requireRoot();
  const workDir = mkdtempSync(join(tmpdir(), 'bulkhead-testkit-'));
  try {
    const rootfs = await rootfsFor(options.rootfs ?? 'busybox', workDir);
    const stateRoot = join(workDir, 'state');
    const runtime = options.runtime?.(stateRoot) ?? createRuntime({ stateRoot });
    for (const plugin of options.plugins ?? []) runtime.use(plugin);
    const spec = baseSpec(args, rootfs);
    options.spec?.(spec);
    return await runCaptured(runtime, spec, workDir);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Throws the error runContainer gives without root: creating namespaces, mounts and cgroups needs it. */
export function requireRoot(uid = process.getuid?.()): void {
  if (uid !== 0) throw new Error('runContainer needs root: creating namespaces, mounts and cgroups does; skip container tests otherwise');
}

/** Returns the entries left in a state root; a run that cleaned up after itself leaves none. */
export function leftoverState(stateRoot: string): string[] {
  try {
    return readdirSync(stateRoot);
  } catch {
    return [];
  }
}

async function rootfsFor(rootfs: NonNullable<ContainerOptions['rootfs']>, workDir: string): Promise<string> {
  if (typeof rootfs === 'object') return rootfs.path;
  const source = (await ensureFixtures())[rootfs];
  const copy = join(workDir, 'rootfs');
  const result = spawnSync('cp', ['-a', '--reflink=auto', source, copy], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`copying the ${rootfs} fixture failed: ${result.stderr.trim()}`);
  return copy;
}

// The container writes to files, not pipes: a pipe would need a reader running while
// runtime.run waits, and output written after exit would race the read.
async function runCaptured(runtime: Runtime, spec: ContainerSpec, workDir: string): Promise<ContainerResult> {
  const stdoutPath = join(workDir, 'stdout');
  const stderrPath = join(workDir, 'stderr');
  const fds = [openSync('/dev/null', 'r'), openSync(stdoutPath, 'w'), openSync(stderrPath, 'w')] as const;
  try {
    const status = await runtime.run(spec, { stdio: [...fds] });
    return { code: exitCodeOf(status), stdout: readFileSync(stdoutPath, 'utf8'), stderr: readFileSync(stderrPath, 'utf8') };
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
