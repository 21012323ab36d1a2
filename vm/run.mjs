#!/usr/bin/env node
// Boots one test VM with the qemu provider and runs a shell command in the repository.
//   node vm/run.mjs --kernel 6.1 [--cgroup v2|v1] [--accel kvm|tcg] [--timeout SECONDS] -- COMMAND...
//   node vm/run.mjs --kernel 6.1 --fetch-only
// Prints the serial console, exits with the command's exit code, or 125 after two
// infrastructure failures (no exit code, kernel panic or timeout).
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_CACHE_DIR, prepareKernel } from './lib/cache.mjs';
import { detectAccel, runInVm } from './lib/qemu.mjs';

const REPO = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const KERNELS = JSON.parse(fs.readFileSync(new URL('kernels.json', import.meta.url), 'utf8'));
const INFRASTRUCTURE_FAILURE_EXIT_CODE = 125;

const quote = (word) => `'${word.replaceAll("'", "'\\''")}'`;

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      kernel: { type: 'string' }, cgroup: { type: 'string', default: 'v2' }, accel: { type: 'string' },
      timeout: { type: 'string', default: '1800' }, 'fetch-only': { type: 'boolean' }, cache: { type: 'string', default: DEFAULT_CACHE_DIR },
    },
  });
  if (!KERNELS[values.kernel]) throw new Error(`--kernel: ${values.kernel ? `unknown kernel "${values.kernel}"` : 'missing'}: expected one of ${Object.keys(KERNELS).join(', ')} (vm/kernels.json)`);
  const log = (line) => console.error(`vm: ${line}`);
  const kernelInfo = await prepareKernel(values.cache, { id: values.kernel, ...KERNELS[values.kernel] }, log);
  if (values['fetch-only']) return 0;
  if (!positionals.length) throw new Error('missing command: vm/run.mjs --kernel ID -- COMMAND...');

  const accel = values.accel ? { accel: values.accel, reason: '--accel' } : await detectAccel({ kernelInfo, cacheDir: values.cache, repo: REPO, onProgress: log });
  log(`booting ${kernelInfo.release} under ${accel.accel} (${accel.reason})`);
  const result = await runInVm({
    kernelInfo, accel: accel.accel, cgroup: values.cgroup, repo: REPO, cpus: os.availableParallelism(),
    script: positionals.map(quote).join(' ') + '\n', timeoutSeconds: Number(values.timeout),
    onLine: (line, seconds) => console.log(`[${seconds.toFixed(1).padStart(6)}] ${line}`),
    onRetry: (reason) => log(`infrastructure failure, retrying once: ${reason}`),
  });
  log(`finished in ${result.seconds.toFixed(1)} s after ${result.attempts} boot(s)`);
  if (result.infrastructureFailure) {
    log(`infrastructure failure: ${result.infrastructureFailure}`);
    return INFRASTRUCTURE_FAILURE_EXIT_CODE;
  }
  return result.exitCode;
}

main().then((code) => { process.exitCode = code; }, (error) => {
  console.error(`vm: ${error.message}`);
  process.exitCode = 2;
});
