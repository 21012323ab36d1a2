import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MOUNT_FLAGS, UMOUNT_FLAGS, type Container, type Syscalls } from '@bulkhead/core';
import { CONTAINER_LINK } from './commands.js';

/** Directories searched for CNI plugin binaries, as CNI_PATH. */
export const DEFAULT_CNI_PATH = ['/usr/lib/cni', '/opt/cni/bin'];

/** A network configuration list, the form every CNI config takes once a single config is wrapped. */
export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: (Record<string, unknown> & { type: string })[];
}

/** Record that DEL needs: the config, the namespace kept open by a bind mount, and ADD's result. */
export interface CniRecord {
  config: string;
  netns: string;
  result?: unknown;
}

/** Reads a .conf or .conflist file; a single network config becomes a list of one plugin. */
export function readCniConfig(path: string): CniConfList {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<CniConfList> & { type?: string };
  if (typeof parsed.cniVersion !== 'string' || typeof parsed.name !== 'string') throw new Error(`CNI config ${path}: cniVersion and name are required`);
  if (Array.isArray(parsed.plugins)) return parsed as CniConfList;
  if (typeof parsed.type !== 'string') throw new Error(`CNI config ${path}: needs a type or a plugins list`);
  return { cniVersion: parsed.cniVersion, name: parsed.name, plugins: [parsed as CniConfList['plugins'][number]] };
}

/**
 * Hands the container's network namespace to the CNI plugins of a config. The namespace is
 * bind-mounted into the state directory first, so that DEL still finds it after the container
 * exits. Then every plugin of the list gets ADD with the previous plugin's result.
 */
export async function cniAdd(container: Container, record: CniRecord, cniPath: readonly string[]): Promise<void> {
  const list = readCniConfig(record.config);
  writeFileSync(record.netns, '');
  container.undo.defer(`unmount and remove ${record.netns}`, () => releaseNetns(container.syscalls, record.netns));
  container.syscalls.mount(`/proc/${container.pid!}/ns/net`, record.netns, null, MOUNT_FLAGS.MS_BIND, null);
  container.undo.defer(`CNI DEL of network ${list.name}`, () => cniDel(container.id, container.syscalls, record, cniPath));
  await container.saveState();

  let previous: unknown;
  for (const plugin of list.plugins) previous = await invoke('ADD', container.id, record.netns, withPrevious(list, plugin, previous), cniPath);
  record.result = previous;
  await container.saveState();
}

/** Runs DEL for every plugin in reverse order, then releases the namespace. Safe to run more than once. */
export async function cniDel(id: string, syscalls: Syscalls, record: CniRecord, cniPath: readonly string[]): Promise<void> {
  if (existsSync(record.netns)) {
    const list = readCniConfig(record.config);
    const errors: string[] = [];
    for (const plugin of [...list.plugins].reverse()) {
      await invoke('DEL', id, record.netns, withPrevious(list, plugin, record.result), cniPath).catch((error: Error) => errors.push(error.message));
    }
    if (errors.length > 0) throw new Error(errors.join('; '));
  }
  releaseNetns(syscalls, record.netns);
}

/** Runs CHECK for every plugin of the list against the result ADD returned. */
export async function cniCheck(id: string, record: CniRecord, cniPath: readonly string[] = DEFAULT_CNI_PATH): Promise<void> {
  const list = readCniConfig(record.config);
  for (const plugin of list.plugins) await invoke('CHECK', id, record.netns, withPrevious(list, plugin, record.result), cniPath);
}

function releaseNetns(syscalls: Syscalls, path: string): void {
  if (!existsSync(path)) return;
  try {
    syscalls.umount2(path, UMOUNT_FLAGS.MNT_DETACH);
  } catch {
    // Not mounted: a create that failed between creating the file and the bind mount.
  }
  rmSync(path, { force: true });
}

function withPrevious(list: CniConfList, plugin: CniConfList['plugins'][number], previous: unknown): Record<string, unknown> {
  return { ...plugin, cniVersion: list.cniVersion, name: list.name, ...(previous === undefined ? {} : { prevResult: previous }) };
}

/** Runs one CNI plugin binary as the CNI spec defines it: the command in the environment, the config on stdin. */
function invoke(command: 'ADD' | 'DEL' | 'CHECK', id: string, netns: string, config: Record<string, unknown>, cniPath: readonly string[]): Promise<unknown> {
  const type = String(config['type']);
  const binary = cniPath.map((dir) => join(dir, type)).find((path) => existsSync(path));
  if (binary === undefined) return Promise.reject(new Error(`CNI ${command} ${type}: plugin not found in ${cniPath.join(':')}`));
  const env = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: CONTAINER_LINK, CNI_PATH: cniPath.join(':') };
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => reject(new Error(`CNI ${command} ${type}: ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) return resolve(stdout.trim() === '' ? undefined : (JSON.parse(stdout) as unknown));
      reject(new Error(`CNI ${command} ${type}: ${cniErrorMessage(stdout) ?? (stderr.trim() || `exit status ${code}`)}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(config));
  });
}

/** Reads the error a plugin prints on failure: {"code": N, "msg": "...", "details": "..."}. */
function cniErrorMessage(stdout: string): string | undefined {
  try {
    const error = JSON.parse(stdout) as { code?: number; msg?: string; details?: string };
    return error.msg === undefined ? undefined : `${error.msg}${error.details ? `: ${error.details}` : ''} (code ${error.code})`;
  } catch {
    return undefined;
  }
}
