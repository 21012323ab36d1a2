import { statSync } from 'node:fs';
import { findNamespace, PROC_NS_NAMES, type NamespaceType, type Plugin, type ValidationContext } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-sysctl';

/** IPC sysctls that the kernel keeps per IPC namespace. */
const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** UTS sysctls: the names that sethostname and setdomainname also set. */
const UTS_SYSCTLS = new Set(['kernel.hostname', 'kernel.domainname']);

/**
 * Kernel parameters from `linux.sysctl`, written to /proc/sys in the container after its mounts
 * and before /proc/sys is made read-only. Only parameters that the kernel keeps per namespace are
 * accepted, and only when the container has that namespace, new or joined but not the host's:
 * writing any other one would change the host.
 */
export function sysctlPlugin(): Plugin {
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { fields: ['linux.sysctl'] },
    apply({ hooks }) {
      hooks.validate.tap(validateSysctl);
      hooks.plan.tap((plan, { spec }) => {
        const root = plan.creates('mount') ? { root: 'rootfs' } : {};
        for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) {
          plan.add(PLUGIN_NAME, 'filesystem', { op: 'write-file', target: { path: procSysPath(key), ...root }, data: value });
        }
      });
    },
  };
}

/** Returns the file under /proc/sys of a dotted sysctl name: net.ipv4.ip_forward is /proc/sys/net/ipv4/ip_forward. */
export function procSysPath(key: string): string {
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

/** Returns the namespace that owns a sysctl, or undefined when the kernel keeps it for the whole host. */
export function sysctlNamespace(key: string): NamespaceType | undefined {
  if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) return 'ipc';
  if (UTS_SYSCTLS.has(key)) return 'uts';
  if (key.startsWith('net.')) return 'network';
  return undefined;
}

function validateSysctl(validation: ValidationContext): void {
  const sysctl = validation.spec.linux?.sysctl;
  if (sysctl === undefined) return;
  if (typeof sysctl !== 'object' || sysctl === null || Array.isArray(sysctl)) {
    validation.problem('linux.sysctl', 'must be an object of sysctl names to values');
    return;
  }
  for (const [key, value] of Object.entries(sysctl)) checkSysctl(validation, key, value);
}

function checkSysctl(validation: ValidationContext, key: string, value: unknown): void {
  const path = `linux.sysctl.${key}`;
  if (typeof value !== 'string') {
    validation.problem(path, 'must be a string');
    return;
  }
  if (!/^[a-z0-9_]+(\.[A-Za-z0-9_*:-]+)+$/.test(key) || key.includes('..')) {
    validation.problem(path, `invalid sysctl name ${JSON.stringify(key)}: expected dotted names such as net.ipv4.ip_forward`);
    return;
  }
  const type = sysctlNamespace(key);
  if (type === undefined) {
    validation.problem(path, 'is not kept per namespace by the kernel, so setting it would change the host');
    return;
  }
  const ns = findNamespace(validation.spec, type);
  if (ns === undefined) validation.problem(path, `needs a ${type} namespace of the container's own in linux.namespaces, or it would change the host's`);
  else if (ns.path !== undefined && isRuntimeNamespace(type, ns.path)) validation.problem(path, `the ${type} namespace at ${ns.path} is the host's, so setting it would change the host`);
}

/** Tells whether the namespace file at `path` is the one this runtime process is in. */
function isRuntimeNamespace(type: NamespaceType, path: string): boolean {
  try {
    const joined = statSync(path);
    const own = statSync(`/proc/self/ns/${PROC_NS_NAMES[type]}`);
    return joined.dev === own.dev && joined.ino === own.ino;
  } catch {
    // A missing path is reported by the core's namespace checks.
    return false;
  }
}
