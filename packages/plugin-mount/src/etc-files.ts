import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Container, Plan } from '@bulkhead/core';

/**
 * Files of /etc that the runtime writes for a container and binds over the root filesystem's
 * own, as podman does. Each is a file in the container's state directory, so it goes away with
 * the container.
 */
export interface EtcFiles {
  /** /etc/hostname with the spec's hostname. */
  hostname?: boolean;
  /** /etc/hosts: localhost, the hostname on 127.0.1.1, and these entries. */
  hosts?: boolean | { entries: HostEntry[] };
  /** /etc/resolv.conf: true copies the host's; an object writes these settings. */
  resolvConf?: boolean | ResolvConf;
}

export interface HostEntry {
  name: string;
  address: string;
}

export interface ResolvConf {
  nameservers: string[];
  search?: string[];
  options?: string[];
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;
/** resolv.conf words: no spaces, no comments, no line breaks. */
const RESOLV_WORD = /^[^\s#;]+$/;

/** Returns the problems of the etcFiles option; an empty list means valid. */
export function checkEtcFiles(files: EtcFiles): string[] {
  const problems: string[] = [];
  if (typeof files.hosts === 'object') {
    files.hosts.entries.forEach((entry, i) => {
      if (!HOST_NAME.test(entry.name)) problems.push(`etcFiles.hosts.entries[${i}].name: ${JSON.stringify(entry.name)} is not a host name`);
      if (isIP(entry.address) === 0) problems.push(`etcFiles.hosts.entries[${i}].address: ${JSON.stringify(entry.address)} is not an IP address`);
    });
  }
  if (typeof files.resolvConf === 'object') {
    files.resolvConf.nameservers.forEach((server, i) => {
      if (isIP(server) === 0) problems.push(`etcFiles.resolvConf.nameservers[${i}]: ${JSON.stringify(server)} is not an IP address`);
    });
    for (const field of ['search', 'options'] as const) {
      (files.resolvConf[field] ?? []).forEach((word, i) => {
        if (!RESOLV_WORD.test(word)) problems.push(`etcFiles.resolvConf.${field}[${i}]: ${JSON.stringify(word)} must be one word without '#' or ';'`);
      });
    }
  }
  return problems;
}

/** Returns the files to write, by their path in the container, with their contents. */
export function etcFileContents(files: EtcFiles, hostname: string | undefined): Map<string, string> {
  const contents = new Map<string, string>();
  if (files.hostname === true) contents.set('/etc/hostname', `${hostname ?? ''}\n`);
  if (files.hosts !== undefined && files.hosts !== false) {
    const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
    if (hostname !== undefined && hostname !== '') lines.push(`127.0.1.1\t${hostname}`);
    if (typeof files.hosts === 'object') lines.push(...files.hosts.entries.map((entry) => `${entry.address}\t${entry.name}`));
    contents.set('/etc/hosts', `${lines.join('\n')}\n`);
  }
  if (files.resolvConf === true) contents.set('/etc/resolv.conf', readFileSync('/etc/resolv.conf', 'utf8'));
  if (typeof files.resolvConf === 'object') contents.set('/etc/resolv.conf', resolvConfText(files.resolvConf));
  return contents;
}

function resolvConfText(settings: ResolvConf): string {
  const lines = settings.nameservers.map((server) => `nameserver ${server}`);
  if ((settings.search ?? []).length > 0) lines.push(`search ${settings.search!.join(' ')}`);
  if ((settings.options ?? []).length > 0) lines.push(`options ${settings.options!.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Directory of the written files inside the container's state directory. */
export function etcDirectory(container: Container): string {
  return join(container.stateDir, 'etc');
}

/** Writes the files into the state directory; they are removed with it. */
export function writeEtcFiles(container: Container, contents: Map<string, string>): void {
  if (contents.size === 0) return;
  const directory = etcDirectory(container);
  mkdirSync(directory, { mode: 0o755 });
  for (const [path, text] of contents) writeFileSync(join(directory, path.slice('/etc/'.length)), text, { mode: 0o644 });
}

/**
 * Plans a bind of each written file over the root's. The target is resolved inside the root, so
 * an /etc/resolv.conf that is a symlink to a host path gets the bind on the symlink's target
 * inside the root. A missing target is created there as an empty file.
 */
export function planEtcFiles(plan: Plan, plugin: string, container: Container, paths: Iterable<string>): void {
  for (const path of paths) {
    const source = join(etcDirectory(container), path.slice('/etc/'.length));
    plan.add(plugin, 'filesystem', { op: 'mount', source, target: { path, root: 'rootfs' }, fstype: null, flags: ['MS_BIND'], data: null, create: 'file' });
  }
}
