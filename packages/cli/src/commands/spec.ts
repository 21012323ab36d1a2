import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CORE_VERSION, libc, OCI_VERSION, probeKernel } from '@bulkhead/core';
import { CAPABILITY_NAMES, kernelLastCapability } from '@bulkhead/plugin-capabilities';
import { lsmEnabled } from '@bulkhead/plugin-lsm';
import { parseMountOptions } from '@bulkhead/plugin-mount';
import { parseCommand } from '../args.js';
import { defaultSpec } from '../default-spec.js';
import type { GlobalFlags } from '../main.js';
import { usageError } from '../usage.js';

/** `bulkhead spec`: writes a default config.json into the bundle, as `runc spec` does. */
export async function specCommand(argv: readonly string[], _globals: GlobalFlags): Promise<number> {
  const { values } = parseCommand('spec', argv, { bundle: { type: 'string', short: 'b' } }, { min: 0, max: 0, names: '' });
  const path = join(resolve(values.bundle ?? '.'), 'config.json');
  if (existsSync(path)) throw usageError(`${path} exists already: remove it first`);
  const spec = defaultSpec({ args: ['sh'], rootfs: 'rootfs', readonly: true });
  writeFileSync(path, JSON.stringify(spec, null, 2) + '\n');
  return 0;
}

/** Mount options the mount plugin understands, for the features document. */
const MOUNT_OPTIONS = ['defaults', 'bind', 'rbind', 'ro', 'rw', 'suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'sync', 'async', 'dirsync', 'remount', 'mand', 'nomand', 'atime', 'noatime', 'diratime', 'nodiratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'symfollow', 'nosymfollow', 'lazytime', 'nolazytime', 'silent', 'loud', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable'];

/**
 * `bulkhead features`: the runtime-spec features document (what this runtime implements), with
 * a probe of the running kernel under the "org.bulkhead.kernel" annotation. Always JSON; --json
 * is accepted for scripts that ask for it.
 */
export async function featuresCommand(argv: readonly string[], _globals: GlobalFlags): Promise<number> {
  parseCommand('features', argv, { json: { type: 'boolean' } }, { min: 0, max: 0, names: '' });
  const kernel = probeKernel(libc);
  const document = {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTIONS.filter((option) => parseMountOptions([option]).unsupported.length === 0),
    linux: {
      namespaces: ['pid', 'network', 'mount', 'uts', 'ipc'].filter((type) => kernel.namespaces.includes(type as never)),
      // The capabilities this runtime can apply: those it knows that the running kernel has.
      capabilities: CAPABILITY_NAMES.slice(0, kernelLastCapability() + 1),
      cgroup: { v1: false, v2: false, systemd: false, systemdUser: false },
      seccomp: { enabled: false },
      // Enabled when the running kernel has the LSM active, because the LSM plugin rejects a label otherwise.
      apparmor: { enabled: lsmEnabled('apparmor') },
      selinux: { enabled: lsmEnabled('selinux') },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: { 'org.bulkhead.version': CORE_VERSION, 'org.bulkhead.kernel': JSON.stringify(kernel) },
    'org.bulkhead.kernel': kernel,
  };
  process.stdout.write(JSON.stringify(document, null, 2) + '\n');
  return 0;
}
