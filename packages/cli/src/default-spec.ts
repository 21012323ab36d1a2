import { OCI_VERSION, type ContainerSpec } from '@bulkhead/core';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '@bulkhead/policy';

export interface DefaultSpecOptions {
  args: string[];
  /** Root filesystem directory; absent means the built-in root made of read-only host directories. */
  rootfs?: string;
  readonly?: boolean;
  hostname?: string;
  /** KEY=VALUE entries added to the default environment, replacing a default of the same key. */
  env?: string[];
  cwd?: string;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Builds a spec like the one `runc spec` writes: new pid, network, ipc, uts and mount namespaces, the standard mounts
 * (/proc, a tmpfs /dev, devpts, /dev/shm, mqueue and a read-only /sys), and the usual masked and
 * read-only paths of /proc and /sys.
 */
export function defaultSpec(options: DefaultSpecOptions): ContainerSpec {
  const spec: ContainerSpec = {
    ociVersion: OCI_VERSION,
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: options.args, env: mergeEnv([DEFAULT_PATH, 'TERM=xterm'], options.env ?? []), cwd: options.cwd ?? '/' },
    hostname: options.hostname ?? 'bulkhead',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
  if (options.rootfs !== undefined) spec.root = { path: options.rootfs, readonly: options.readonly ?? false };
  return spec;
}

/** Appends entries to an environment, each replacing an earlier entry of the same key. */
export function mergeEnv(base: readonly string[], added: readonly string[]): string[] {
  const byKey = new Map<string, string>();
  for (const entry of [...base, ...added]) byKey.set(entry.split('=', 1)[0]!, entry);
  return [...byKey.values()];
}
