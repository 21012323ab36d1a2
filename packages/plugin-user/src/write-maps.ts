import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { BulkheadError, ErrorCode, type IdMapping } from '@bulkhead/core';
import { formatMap, helperArguments, MAP_FIELDS, type MapKind } from './mappings.js';

const execFileAsync = promisify(execFile);

/** The setuid helpers of the uidmap package, which write ranges delegated in /etc/subuid and /etc/subgid. */
export const HELPERS: Readonly<Record<MapKind, string>> = Object.freeze({ uid: 'newuidmap', gid: 'newgidmap' });

/**
 * Method of writing one map: `direct` writes /proc/PID/uid_map itself (root, or an
 * unprivileged caller mapping only its own id), `helper` runs newuidmap or newgidmap.
 */
export type MapMethod = { kind: 'direct'; denySetgroups: boolean } | { kind: 'helper'; path: string };

/** Writes one map of the waiting child, failing with the spec field, the file or helper, and the reason. */
export async function writeMap(pid: number, kind: MapKind, mappings: readonly IdMapping[], method: MapMethod): Promise<void> {
  if (method.kind === 'helper') {
    await runHelper(pid, kind, mappings, method.path);
    return;
  }
  // An unprivileged gid_map is accepted only after setgroups is denied for good, so that the
  // process cannot drop a supplementary group that denies it access on the host.
  if (method.denySetgroups) writeProcFile(pid, 'setgroups', 'deny\n', MAP_FIELDS[kind]);
  writeProcFile(pid, `${kind}_map`, formatMap(mappings), MAP_FIELDS[kind]);
}

function writeProcFile(pid: number, name: string, text: string, field: string): void {
  const path = `/proc/${pid}/${name}`;
  try {
    // One write(2): the kernel accepts a map only in a single write.
    writeFileSync(path, text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    const hint = code === 'EPERM' && name.endsWith('_map') ? ': the caller may map only its own id without privileges; map other ids through /etc/subuid and /etc/subgid with newuidmap and newgidmap' : '';
    throw new BulkheadError(ErrorCode.SYSCALL_FAILED, `write ${path} for ${field}: ${code}${hint}`, { cause: error });
  }
}

async function runHelper(pid: number, kind: MapKind, mappings: readonly IdMapping[], path: string): Promise<void> {
  try {
    await execFileAsync(path, [String(pid), ...helperArguments(mappings)], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string; code?: string | number };
    const reason = typeof failure.stderr === 'string' && failure.stderr.trim() !== '' ? failure.stderr.trim().split('\n').join('; ') : String(failure.code ?? failure.message);
    throw new BulkheadError(ErrorCode.SYSCALL_FAILED, `${HELPERS[kind]} ${pid} for ${MAP_FIELDS[kind]} failed: ${reason}`, { cause: error });
  }
}
