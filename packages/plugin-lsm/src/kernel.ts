import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The securityfs mount point, which lists the active LSMs and AppArmor's loaded profiles. */
export const SECURITYFS = '/sys/kernel/security';

/** The Linux security modules this plugin applies labels for. */
export type LsmName = 'apparmor' | 'selinux';

/** The running kernel's active LSMs, or the reason they could not be read. */
export interface LsmStatus {
  active: string[];
  /** Set when securityfs's lsm file could not be read, so `active` is empty for that reason. */
  unreadable?: string;
}

/**
 * Reads the active LSMs from securityfs's comma-separated `lsm` file (Linux 4.15 and later). A
 * missing file (no securityfs mounted, or an older kernel) counts as no LSM, with the reason kept.
 */
export function readLsmStatus(securityfs: string = SECURITYFS): LsmStatus {
  const file = join(securityfs, 'lsm');
  try {
    return { active: readFileSync(file, 'utf8').trim().split(',').filter(Boolean) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (code === 'ENOENT') return { active: [], unreadable: `${file} does not exist: securityfs is not mounted at ${securityfs}, or the kernel is older than 4.15` };
    return { active: [], unreadable: `cannot read ${file}: ${code}` };
  }
}

/** True when the running kernel has this LSM active. */
export function lsmEnabled(name: LsmName, securityfs: string = SECURITYFS): boolean {
  return readLsmStatus(securityfs).active.includes(name);
}

/**
 * Reads the names of the AppArmor profiles loaded in the kernel. Each line of the `profiles`
 * file is "NAME (MODE)", and a name may contain spaces, so the mode is cut from the end.
 * Reading the file needs the policy view capability (root in the initial user namespace).
 */
export function readAppArmorProfiles(securityfs: string = SECURITYFS): Set<string> {
  const text = readFileSync(join(securityfs, 'apparmor', 'profiles'), 'utf8');
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = line.match(/^(.+) \([^()]*\)$/);
    if (match !== null) names.add(match[1]!);
  }
  return names;
}

/**
 * Returns the file a process writes to change its AppArmor label at the next execve:
 * /proc/self/attr/apparmor/exec, which newer kernels add so that AppArmor's file is not
 * taken by another LSM, or the shared /proc/self/attr/exec of older kernels. The host's /proc
 * tells which one this kernel has, and the container's /proc, from the same kernel, has the same.
 */
export function appArmorExecAttr(proc: string = '/proc'): string {
  return existsSync(join(proc, 'self', 'attr', 'apparmor', 'exec')) ? '/proc/self/attr/apparmor/exec' : '/proc/self/attr/exec';
}
