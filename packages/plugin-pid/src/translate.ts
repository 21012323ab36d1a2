import { readdirSync, readFileSync, statSync } from 'node:fs';

/**
 * Reads the NSpid line of /proc/PID/status: the process's pid in each pid namespace it belongs
 * to, from the host's (as seen by this /proc) to its own.
 */
export function readNSpid(hostPid: number, proc = '/proc'): number[] {
  const status = readFileSync(`${proc}/${hostPid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('NSpid:'));
  if (line === undefined) throw new Error(`read NSpid of pid ${hostPid}: the kernel does not report NSpid (needs Linux 4.1)`);
  return line.slice('NSpid:'.length).trim().split(/\s+/).map(Number);
}

/** Depth of the container's pid namespace below this /proc's, from the host pid of its init. */
function containerLevel(initHostPid: number, proc: string): number {
  return readNSpid(initHostPid, proc).length - 1;
}

function pidNamespaceOf(hostPid: number, proc: string): string {
  const stat = statSync(`${proc}/${hostPid}/ns/pid`);
  return `${stat.dev}:${stat.ino}`;
}

/** Translates a host pid into the pid the container sees, given the host pid of the container's init. */
export function containerPidOf(hostPid: number, initHostPid: number, proc = '/proc'): number {
  const level = containerLevel(initHostPid, proc);
  const nspid = readNSpid(hostPid, proc);
  if (nspid.length <= level || pidNamespaceOf(hostPid, proc) !== pidNamespaceOf(initHostPid, proc)) {
    throw new Error(`translate pid ${hostPid}: not a process of the container whose init is host pid ${initHostPid}`);
  }
  return nspid[level]!;
}

/**
 * Translates a pid as the container sees it into the host pid, by scanning /proc for a process
 * in the container's pid namespace. Processes in namespaces nested below the container's are
 * not searched.
 */
export function hostPidOf(containerPid: number, initHostPid: number, proc = '/proc'): number {
  const level = containerLevel(initHostPid, proc);
  const namespace = pidNamespaceOf(initHostPid, proc);
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const nspid = readNSpid(pid, proc);
      if (nspid.length === level + 1 && nspid[level] === containerPid && pidNamespaceOf(pid, proc) === namespace) return pid;
    } catch {
      // The process exited while the scan ran.
    }
  }
  throw new Error(`translate container pid ${containerPid}: no such process in the container whose init is host pid ${initHostPid}`);
}
