import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Syscalls } from '@bulkhead/core';
import { formatAddress, parseCidr } from './config.js';

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

/** Creates a network file for a subnet, whose first host address is the gateway. */
export function newNetwork(bridge: string, subnet: string, masquerade: boolean, ownsBridge: boolean): NetworkFile {
  const { address, prefix } = parseCidr(subnet)!;
  const base = address - (address % 2 ** (32 - prefix));
  return { bridge, subnet: `${formatAddress(base)}/${prefix}`, gateway: formatAddress(base + 1), ownsBridge, masquerade, leases: {} };
}

/**
 * Leases the lowest free host address of the subnet to a container: neither the network
 * address, the gateway nor the broadcast address. Returns the address with its prefix length.
 */
export function lease(network: NetworkFile, id: string): string {
  const { address, prefix } = parseCidr(network.subnet)!;
  const leased = new Set(Object.values(network.leases));
  const size = 2 ** (32 - prefix);
  for (let offset = 2; offset < size - 1; offset++) {
    const candidate = formatAddress(address + offset);
    if (!leased.has(candidate)) {
      network.leases[id] = candidate;
      return candidate;
    }
  }
  throw new Error(`lease an address on bridge ${network.bridge}: subnet ${network.subnet} has no free address`);
}
