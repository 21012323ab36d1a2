import { readFileSync } from 'node:fs';
import { checkPolicy, type EtcFiles, type MountPluginOptions, type MountPolicy } from '@bulkhead/plugin-mount';
import { usageError } from './usage.js';

/** Flags of `run` and `plan` for the mount plugin: an overlay root and the written /etc files. */
export interface MountFlags {
  /** Image directory: the read-only lower layer of an overlay root. */
  image?: string;
  /** Keep the overlay's upper layer when the container is deleted. */
  keep: boolean;
  etcHostname: boolean;
  etcHosts: boolean;
  etcResolvConf: boolean;
  /** NAME:ADDRESS entries for /etc/hosts. */
  addHost: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOption: string[];
}

export const MOUNT_BOOLEAN_FLAGS = new Set(['keep', 'etc-hostname', 'etc-hosts', 'etc-resolv-conf']);
export const MOUNT_VALUE_FLAGS = new Set(['image']);
export const MOUNT_REPEATED_FLAGS = new Set(['add-host', 'dns', 'dns-search', 'dns-option']);

export function setMountFlag(flags: MountFlags, name: string, value: string | undefined): void {
  switch (name) {
    case 'keep':
      flags.keep = true;
      return;
    case 'etc-hostname':
      flags.etcHostname = true;
      return;
    case 'etc-hosts':
      flags.etcHosts = true;
      return;
    case 'etc-resolv-conf':
      flags.etcResolvConf = true;
      return;
    case 'image':
      flags.image = value!;
      return;
    case 'add-host':
      if (!/^[^:]+:.+$/.test(value!)) throw usageError(`flag --add-host ${JSON.stringify(value)}: expected NAME:ADDRESS`);
      flags.addHost.push(value!);
      return;
    case 'dns':
      flags.dns.push(value!);
      return;
    case 'dns-search':
      flags.dnsSearch.push(value!);
      return;
    case 'dns-option':
      flags.dnsOption.push(value!);
      return;
  }
}

/**
 * Builds the mount plugin's options for one `run`: the overlay root and the /etc files.
 * --add-host implies --etc-hosts. --dns, --dns-search and --dns-option write /etc/resolv.conf
 * with their values instead of a copy of the host's.
 */
export function mountOptionsFromFlags(flags: MountFlags, base: MountPluginOptions = {}): MountPluginOptions {
  const etcFiles: EtcFiles = {};
  if (flags.etcHostname) etcFiles.hostname = true;
  if (flags.addHost.length > 0) {
    etcFiles.hosts = { entries: flags.addHost.map((entry) => ({ name: entry.slice(0, entry.indexOf(':')), address: entry.slice(entry.indexOf(':') + 1) })) };
  } else if (flags.etcHosts) {
    etcFiles.hosts = true;
  }
  if (flags.dns.length > 0 || flags.dnsSearch.length > 0 || flags.dnsOption.length > 0) {
    etcFiles.resolvConf = { nameservers: flags.dns, search: flags.dnsSearch, options: flags.dnsOption };
  } else if (flags.etcResolvConf) {
    etcFiles.resolvConf = true;
  }
  return {
    ...base,
    ...(Object.keys(etcFiles).length === 0 ? {} : { etcFiles }),
    ...(flags.image === undefined ? {} : { overlay: { keep: flags.keep } }),
  };
}

/** Reads the JSON mount policy of --mount-policy FILE; an invalid one is a usage error naming each problem. */
export function readMountPolicy(file: string): MountPolicy {
  let policy: unknown;
  try {
    policy = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw usageError(`flag --mount-policy ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const problems = checkPolicy(policy);
  if (problems.length > 0) throw usageError(`flag --mount-policy ${file}: ${problems.join('; ')}`);
  return policy as MountPolicy;
}
