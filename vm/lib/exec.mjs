// Small wrappers around child_process for the vm/ scripts.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Runs a program and returns its stdout; on failure throws one line naming the step. */
export async function run(step, file, args, options = {}) {
  try {
    const { stdout } = await execFileAsync(file, args, { maxBuffer: 256 * 1024 * 1024, ...options });
    return stdout;
  } catch (error) {
    const detail = (error.stderr || error.message || '').toString().trim().split('\n').pop();
    throw new Error(`${step}: ${file} ${args.join(' ')} failed: ${detail}`);
  }
}

/** Runs a shell pipeline (used only for cpio and dpkg-deb pipes) with the same error style. */
export function runShell(step, script, options = {}) {
  return run(step, '/bin/sh', ['-c', script], options);
}

/** Spawns a long-running program and resolves with its exit code and signal. */
export function spawnAndWait(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, options);
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, child }));
    options.onSpawn?.(child);
  });
}
