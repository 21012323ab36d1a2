// The qemu provider: boots a cached kernel with the busybox initramfs, the host's
// root shared read-only over 9p and the repository and an output folder shared
// writable, runs one job script, and reads its output and exit code back.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnAndWait } from './exec.mjs';

export const CGROUP_MODES = ['v2', 'v1'];
const PANIC_PATTERN = /Kernel panic - not syncing|BUG: kernel NULL pointer|---\[ end trace/;

/**
 * Returns the kernel command line for a cgroup mode. v2 disables every v1 controller with
 * cgroup_no_v1=all so nothing can mount them; v1 leaves them on for the hybrid layout that
 * guest/init mounts.
 */
export function kernelCommandLine({ cgroup, repo }) {
  if (!CGROUP_MODES.includes(cgroup)) throw new Error(`kernel command line: invalid cgroup mode "${cgroup}": expected v2 or v1`);
  const words = ['console=ttyS0', 'panic=-1', 'loglevel=4', 'mitigations=off', `bulkhead.repo=${repo}`, `bulkhead.cgroup=${cgroup}`];
  if (cgroup === 'v2') words.push('cgroup_no_v1=all');
  return words.join(' ');
}

/** Returns the qemu-system-x86_64 arguments for one boot. */
export function qemuArgs({ kernel, initrd, accel, cmdline, repo, outDir, modulesDir, memoryMiB = 2048, cpus = 1 }) {
  const share = (id, dir, tag, readonly) => [
    '-fsdev', `local,id=${id},path=${dir},security_model=passthrough,multidevs=remap${readonly ? ',readonly=on' : ''}`,
    '-device', `virtio-9p-pci,fsdev=${id},mount_tag=${tag}`,
  ];
  return [
    '-machine', `pc,accel=${accel}`,
    '-cpu', accel === 'kvm' ? 'host' : 'max',
    '-smp', String(cpus),
    '-m', String(memoryMiB),
    '-kernel', kernel,
    '-initrd', initrd,
    '-append', cmdline,
    '-nic', 'none',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', 'stdio',
    '-no-reboot',
    ...share('hostroot', '/', 'hostroot', true),
    ...share('repo', repo, 'repo', false),
    ...share('out', outDir, 'out', false),
    // The kernel's whole module tree, which guest/init mounts at /lib/modules/<release> so that
    // the kernel can load veth, bridge, ifb or nf_tables on demand as the host would.
    ...(modulesDir ? share('modules', modulesDir, 'modules', true) : []),
  ];
}

/** Classifies a finished boot: the job's exit code, or an infrastructure failure with its reason. */
export function classifyBoot({ exitCodeText, serial, timedOut }) {
  if (timedOut) return { infrastructureFailure: 'timed out' };
  const panic = serial.match(PANIC_PATTERN);
  if (panic) return { infrastructureFailure: `kernel: ${panic[0]}` };
  if (exitCodeText === null) {
    const reported = serial.match(/bulkhead-vm: infrastructure failure: (.*)/);
    return { infrastructureFailure: reported ? reported[1].trim() : 'the VM powered off without writing an exit code' };
  }
  const code = Number.parseInt(exitCodeText.trim(), 10);
  if (!Number.isInteger(code)) return { infrastructureFailure: `invalid exit code "${exitCodeText.trim()}"` };
  return { exitCode: code };
}

/**
 * Boots once and runs script (a shell script run by /bin/sh in the repository). onLine receives
 * each serial console line. Returns { exitCode | infrastructureFailure, output, serial, seconds }.
 */
export async function bootOnce({ kernelInfo, accel, cgroup, repo, script, timeoutSeconds, cpus, memoryMiB, onLine = () => {} }) {
  const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bulkhead-vm-out-'));
  try {
    await fs.writeFile(path.join(outDir, 'job.sh'), script);
    const args = qemuArgs({
      kernel: path.join(kernelInfo.dir, 'vmlinux'),
      initrd: path.join(kernelInfo.dir, 'initramfs.cpio'),
      accel, cpus, memoryMiB, repo, outDir,
      modulesDir: kernelInfo.moduleTree && path.join(kernelInfo.dir, kernelInfo.moduleTree),
      cmdline: kernelCommandLine({ cgroup, repo }),
    });

    const started = Date.now();
    let serial = '';
    let pending = '';
    let timedOut = false;
    let timer;
    const { code, signal } = await spawnAndWait('qemu-system-x86_64', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      onSpawn(child) {
        timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutSeconds * 1000);
        const collect = (chunk) => {
          const text = chunk.toString();
          serial += text;
          pending += text;
          const lines = pending.split(/\r?\n/);
          pending = lines.pop();
          for (const line of lines) onLine(line, (Date.now() - started) / 1000);
        };
        child.stdout.on('data', collect);
        child.stderr.on('data', collect);
      },
    });
    clearTimeout(timer);

    const exitCodeText = await fs.readFile(path.join(outDir, 'exit-code'), 'utf8').catch(() => null);
    const output = await fs.readFile(path.join(outDir, 'output.log'), 'utf8').catch(() => '');
    const files = await readFolder(outDir);
    const result = classifyBoot({ exitCodeText, serial, timedOut });
    if (result.infrastructureFailure && code !== 0 && !timedOut) result.infrastructureFailure += ` (qemu ${code === null ? `killed by ${signal}` : `exited with ${code}`})`;
    return { ...result, accel, output, serial, files, seconds: (Date.now() - started) / 1000 };
  } finally {
    await fs.rm(outDir, { recursive: true, force: true });
  }
}

/** Reads every file the job left in the output folder (small results: TAP, JSON) into a map. */
async function readFolder(dir) {
  const files = {};
  for (const name of await fs.readdir(dir)) {
    const file = path.join(dir, name);
    if ((await fs.stat(file)).isFile()) files[name] = await fs.readFile(file, 'utf8');
  }
  return files;
}

/** Boots and runs script, retrying once after an infrastructure failure (never counted as a pass). */
export async function runInVm(options) {
  const first = await bootOnce(options);
  if (!first.infrastructureFailure) return { ...first, attempts: 1 };
  options.onRetry?.(first.infrastructureFailure);
  const second = await bootOnce(options);
  return { ...second, attempts: 2, firstFailure: first.infrastructureFailure };
}

/**
 * Returns 'kvm' when /dev/kvm exists and a trivial job boots and exits 0 under it, else 'tcg'.
 * Nested hypervisors may expose /dev/kvm yet fail to run stock kernels (qemu aborts with
 * "failed to set MSR", or the guest hangs), so the device alone proves nothing. The result is
 * cached per kernel release and host kernel, because either can change the outcome.
 */
export async function detectAccel({ kernelInfo, cacheDir, repo, cgroup = 'v2', onProgress = () => {} }) {
  if (process.env.BULKHEAD_VM_ACCEL) return { accel: process.env.BULKHEAD_VM_ACCEL, reason: 'BULKHEAD_VM_ACCEL' };
  const hasKvm = await fs.access('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK).then(() => true, () => false);
  if (!hasKvm) return { accel: 'tcg', reason: '/dev/kvm is missing or not accessible' };

  const cacheFile = path.join(cacheDir, 'accel.json');
  const key = `${kernelInfo.release} on ${os.release()}`;
  const cached = JSON.parse(await fs.readFile(cacheFile, 'utf8').catch(() => '{}'));
  if (cached[key]) return cached[key];

  onProgress(`checking whether KVM boots ${kernelInfo.release}`);
  const probe = await bootOnce({ kernelInfo, accel: 'kvm', cgroup, repo, script: 'exit 0\n', timeoutSeconds: KVM_PROBE_TIMEOUT_SECONDS });
  const result = probe.exitCode === 0
    ? { accel: 'kvm', reason: `KVM booted ${kernelInfo.release} in ${probe.seconds.toFixed(1)} s` }
    : { accel: 'tcg', reason: `KVM did not boot ${kernelInfo.release}: ${firstQemuError(probe.serial) || probe.infrastructureFailure}` };
  cached[key] = result;
  await fs.writeFile(cacheFile, JSON.stringify(cached, null, 2) + '\n');
  return result;
}

// A trivial job boots in a few seconds under working KVM; a hang is what a failing nested KVM shows.
const KVM_PROBE_TIMEOUT_SECONDS = 30;

const firstQemuError = (serial) => serial.split('\n').find((line) => line.startsWith('qemu-system-x86_64:'))?.trim();
