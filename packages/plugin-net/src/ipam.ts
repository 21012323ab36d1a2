import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Syscalls } from '@bulkhead/core';
import { formatAddress, parseCidr, type NetworkConfig, type Vxlan } from './config.js';

/**
 * One bridge network: its subnet, its gateway (the bridge's own address) and the address lease
 * of every container on it. It lives in `<state root>/.network/<bridge>.json`, so leases survive
 * restarts of the runtime, and its leases count the bridge's users: the last release removes
 * the bridge.
 */
export interface NetworkFile {
  bridge: string;
  subnet: string;
  gateway: string;
  /** False when the bridge existed before bulkhead's first use: it is then never removed. */
  ownsBridge: boolean;
  masquerade: boolean;
  /** First and last address leased to containers; absent for the whole subnet. */
  range?: [string, string];
  vxlan?: Vxlan;
  /** Container id to address. */
  leases: Record<string, string>;
}

export function networkDir(stateRoot: string): string {
  return join(stateRoot, '.network');
}

/** Runs fn holding the exclusive lock over every network file of the state root. */
export async function withNetworkLock<T>(syscalls: Syscalls, stateRoot: string, fn: () => Promise<T>): Promise<T> {
  const dir = networkDir(stateRoot);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = openSync(join(dir, 'lock'), 'a', 0o600);
  try {
    await syscalls.flockExclusive(fd);
    return await fn();
  } finally {
    closeSync(fd);
  }
}

export function readNetwork(stateRoot: string, bridge: string): NetworkFile | undefined {
  try {
    return JSON.parse(readFileSync(join(networkDir(stateRoot), `${bridge}.json`), 'utf8')) as NetworkFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes the network file atomically, or removes it when no lease is left. */
export function writeNetwork(stateRoot: string, network: NetworkFile): void {
  const path = join(networkDir(stateRoot), `${network.bridge}.json`);
  if (Object.keys(network.leases).length === 0) {
    rmSync(path, { force: true });
    return;
  }
  writeFileSync(`${path}.tmp`, JSON.stringify(network, null, 2));
  renameSync(`${path}.tmp`, path);
}

/** Creates a network file for a bridge; the gateway defaults to the subnet's first host address. */
export function newNetwork(config: Pick<NetworkConfig, 'bridge' | 'subnet' | 'masquerade' | 'gateway' | 'range' | 'vxlan'>, ownsBridge: boolean): NetworkFile {
  const { address, prefix } = parseCidr(config.subnet)!;
  const base = address - (address % 2 ** (32 - prefix));
  const network: NetworkFile = { bridge: config.bridge, subnet: `${formatAddress(base)}/${prefix}`, gateway: config.gateway ?? formatAddress(base + 1), ownsBridge, masquerade: config.masquerade, leases: {} };
  if (config.range !== undefined) network.range = config.range;
  if (config.vxlan !== undefined) network.vxlan = config.vxlan;
  return network;
}

/**
 * Leases the lowest free address of the network's range (by default the subnet's host
 * addresses) to a container, never the gateway.
 */
export function lease(network: NetworkFile, id: string): string {
  const { address, prefix } = parseCidr(network.subnet)!;
  const unavailable = new Set([...Object.values(network.leases), network.gateway]);
  const first = network.range === undefined ? address + 1 : parseCidr(`${network.range[0]}/32`)!.address;
  const last = network.range === undefined ? address + 2 ** (32 - prefix) - 2 : parseCidr(`${network.range[1]}/32`)!.address;
  for (let candidate = first; candidate <= last; candidate++) {
    const text = formatAddress(candidate);
    if (!unavailable.has(text)) {
      network.leases[id] = text;
      return text;
    }
  }
  throw new Error(`lease an address on bridge ${network.bridge}: ${network.range === undefined ? `subnet ${network.subnet}` : `range ${network.range.join('-')}`} has no free address`);
}
