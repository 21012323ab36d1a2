import { parseLevel, ISOLATION_LEVELS, type IsolationLevel } from '@bulkhead/policy';
import { NETWORK_VALUE_FLAGS, type NetworkFlags } from './network.js';
import type { ResourceFlags } from './resources.js';
import { MOUNT_BOOLEAN_FLAGS, MOUNT_REPEATED_FLAGS, MOUNT_VALUE_FLAGS, setMountFlag, type MountFlags } from './mount-flags.js';
import { usageError } from './usage.js';

export interface ContainerFlags extends ResourceFlags, NetworkFlags, MountFlags {
  rootfs?: string;
  readOnly: boolean;
  hostname?: string;
  env: string[];
  cwd?: string;
  init: boolean;
  id?: string;
  json: boolean;
  cgroupns: boolean;
  /** Pressure-driven adjustment bounds, such as "cpu=0.2:1"; they become the org.bulkhead.adjust annotation. */
  adjust: string[];
  /** An isolation level whose settings replace the default spec's. */
  level?: IsolationLevel;
  allowPrivileged: boolean;
  allowNested: boolean;
  /** --seccomp: 'default', 'unconfined' or the path of an OCI linux.seccomp JSON file. */
  seccomp?: string;
  /** Sets process.terminal; the container uses the caller's terminal, as its stdio. */
  tty: boolean;
  /** The command and its arguments. */
  args: string[];
}

const VALUE_FLAGS = new Set(['rootfs', 'hostname', 'env', 'cwd', 'id', 'level', 'seccomp']);
const BOOLEAN_FLAGS = new Set(['read-only', 'init', 'json', 'cgroupns', 'allow-privileged', 'allow-nested', 'masquerade', 'tty', 't']);

/** Resource flags that take one value, by flag name and ResourceFlags field. */
const RESOURCE_FLAGS: Record<string, 'memory' | 'memorySwap' | 'cpus' | 'cpuShares' | 'cpusetCpus' | 'pidsLimit'> = {
  memory: 'memory',
  'memory-swap': 'memorySwap',
  cpus: 'cpus',
  'cpu-shares': 'cpuShares',
  'cpuset-cpus': 'cpusetCpus',
  'pids-limit': 'pidsLimit',
};

/** Resource flags that may be given more than once. */
const REPEATED_FLAGS: Record<string, 'ioReadBps' | 'ioWriteBps' | 'ioReadIops' | 'ioWriteIops' | 'ulimit' | 'adjust' | 'qosClass'> = {
  'io-read-bps': 'ioReadBps',
  'io-write-bps': 'ioWriteBps',
  'io-read-iops': 'ioReadIops',
  'io-write-iops': 'ioWriteIops',
  ulimit: 'ulimit',
  adjust: 'adjust',
  'qos-class': 'qosClass',
};

/**
 * Parses the flags of `run` and `plan`. The command starts at `--` or at the first word that is
 * not a flag, so `bulkhead run sh -c 'echo hi'` works without `--`.
 */
export function parseContainerFlags(argv: readonly string[]): ContainerFlags {
  const flags: ContainerFlags = { readOnly: false, env: [], init: false, json: false, cgroupns: false, masquerade: false, tty: false, adjust: [], allowPrivileged: false, allowNested: false, args: [], ioReadBps: [], ioWriteBps: [], ioReadIops: [], ioWriteIops: [], ulimit: [], qosClass: [], keep: false, etcHostname: false, etcHosts: false, etcResolvConf: false, addHost: [], dns: [], dnsSearch: [], dnsOption: [] };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--' || !word.startsWith('-')) {
      flags.args = argv.slice(word === '--' ? i + 1 : i);
      break;
    }
    const [name, inline] = splitFlag(word);
    if (MOUNT_BOOLEAN_FLAGS.has(name)) {
      if (inline !== undefined) throw usageError(`flag --${name} takes no value`);
      setMountFlag(flags, name, undefined);
    } else if (MOUNT_VALUE_FLAGS.has(name) || MOUNT_REPEATED_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw usageError(`flag --${name} needs a value`);
      setMountFlag(flags, name, value);
    } else if (BOOLEAN_FLAGS.has(name)) {
      if (inline !== undefined) throw usageError(`flag --${name} takes no value`);
      setBoolean(flags, name);
    } else if (name in RESOURCE_FLAGS || name in REPEATED_FLAGS || name in NETWORK_VALUE_FLAGS || VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw usageError(`flag --${name} needs a value`);
      setValue(flags, name, value);
    } else {
      throw usageError(`unknown flag ${word}`);
    }
  }
  if (flags.image !== undefined && flags.rootfs !== undefined) throw usageError('flags --image and --rootfs exclude each other: --image mounts an overlay with the image as its lower layer');
  if (flags.keep && flags.image === undefined) throw usageError('flag --keep needs --image: it keeps the overlay upper layer');
  if (flags.args.length === 0) throw usageError('missing the command to run; usage: bulkhead run [flags] [--] CMD [ARG...]');
  if ((flags.allowPrivileged || flags.allowNested) && flags.level === undefined) throw usageError('flags --allow-privileged and --allow-nested change an isolation level: give --level too');
  return flags;
}

export function splitFlag(word: string): [string, string | undefined] {
  const body = word.replace(/^--?/, '');
  const equals = body.indexOf('=');
  return equals < 0 ? [body, undefined] : [body.slice(0, equals), body.slice(equals + 1)];
}

function setBoolean(flags: ContainerFlags, name: string): void {
  if (name === 'read-only') flags.readOnly = true;
  else if (name === 'init') flags.init = true;
  else if (name === 'cgroupns') flags.cgroupns = true;
  else if (name === 'allow-privileged') flags.allowPrivileged = true;
  else if (name === 'allow-nested') flags.allowNested = true;
  else if (name === 'masquerade') flags.masquerade = true;
  else if (name === 'tty' || name === 't') flags.tty = true;
  else flags.json = true;
}

function setValue(flags: ContainerFlags, name: string, value: string): void {
  if (name in RESOURCE_FLAGS) {
    flags[RESOURCE_FLAGS[name]!] = value;
    return;
  }
  if (name in REPEATED_FLAGS) {
    flags[REPEATED_FLAGS[name]!].push(value);
    return;
  }
  if (name in NETWORK_VALUE_FLAGS) {
    flags[NETWORK_VALUE_FLAGS[name]!] = value;
    return;
  }
  switch (name) {
    case 'env':
      if (!/^[^=]+=/.test(value)) throw usageError(`flag --env ${JSON.stringify(value)}: expected KEY=VALUE`);
      flags.env.push(value);
      return;
    case 'rootfs':
      flags.rootfs = value;
      return;
    case 'hostname':
      flags.hostname = value;
      return;
    case 'cwd':
      flags.cwd = value;
      return;
    case 'id':
      flags.id = value;
      return;
    case 'level': {
      const level = parseLevel(value);
      if (level === undefined) throw usageError(`flag --level ${JSON.stringify(value)}: expected one of ${ISOLATION_LEVELS.join(', ')}`);
      flags.level = level;
      return;
    }
    case 'seccomp':
      flags.seccomp = value;
      return;
  }
}
