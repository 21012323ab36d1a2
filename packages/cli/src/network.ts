import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ContainerSpec } from '@bulkhead/core';
import { ANNOTATIONS } from '@bulkhead/plugin-net';
import { usageError } from './usage.js';

/** Network flags of `bulkhead run`, as given on the command line. */
export interface NetworkFlags {
  /** none (default), host, bridge, bridge:NAME, cni:CONFIG or ns:PATH. */
  network?: string;
  subnet?: string;
  masquerade: boolean;
  egressRate?: string;
  egressBurst?: string;
  ingressRate?: string;
  ingressBurst?: string;
  /** A firewall as JSON, or @FILE containing it. */
  firewall?: string;
  gateway?: string;
  ipRange?: string;
  /** VNI:REMOTE[,REMOTE...] */
  vxlan?: string;
}

/** Flags that take one value, by flag name and NetworkFlags field. */
export const NETWORK_VALUE_FLAGS: Record<string, 'network' | 'subnet' | 'egressRate' | 'egressBurst' | 'ingressRate' | 'ingressBurst' | 'firewall' | 'gateway' | 'ipRange' | 'vxlan'> = {
  network: 'network',
  subnet: 'subnet',
  'egress-rate': 'egressRate',
  'egress-burst': 'egressBurst',
  'ingress-rate': 'ingressRate',
  'ingress-burst': 'ingressBurst',
  firewall: 'firewall',
  gateway: 'gateway',
  'ip-range': 'ipRange',
  vxlan: 'vxlan',
};

/**
 * Turns the network flags into the spec's network namespace entry and the plugin's annotations.
 * The default spec has a network namespace of its own (mode none); host removes it.
 */
export function applyNetworkFlags(spec: ContainerSpec, flags: NetworkFlags): void {
  const mode = flags.network ?? 'none';
  const namespaces = spec.linux!.namespaces!;
  const entry = namespaces.find((ns) => ns.type === 'network');
  const annotations: Record<string, string> = {};
  const bridged = [flags.subnet, flags.egressRate, flags.ingressRate, flags.egressBurst, flags.ingressBurst, flags.gateway, flags.ipRange, flags.vxlan].some((value) => value !== undefined) || flags.masquerade;
  if (mode === 'host' || mode.startsWith('ns:')) {
    if (bridged || flags.firewall !== undefined) throw usageError(`flag --network ${mode}: bridge settings, rates and firewalls need --network none or bridge`);
    spec.linux!.namespaces = namespaces.filter((ns) => ns.type !== 'network');
    if (mode.startsWith('ns:')) spec.linux!.namespaces.push({ type: 'network', path: mode.slice(3) });
    return;
  }

  if (entry === undefined) namespaces.push({ type: 'network' });
  if (mode === 'bridge' || mode.startsWith('bridge:')) {
    annotations[ANNOTATIONS.mode] = 'bridge';
    if (mode.startsWith('bridge:')) annotations[ANNOTATIONS.bridge] = mode.slice(7);
  } else if (mode.startsWith('cni:')) {
    annotations[ANNOTATIONS.mode] = 'cni';
    annotations[ANNOTATIONS.cniConfig] = resolve(mode.slice(4));
    if (bridged) throw usageError('flag --network cni: the CNI config sets addresses and rates; only --firewall applies');
  } else if (mode !== 'none') {
    throw usageError(`flag --network: expected none, host, bridge, bridge:NAME, cni:CONFIG or ns:PATH, got ${JSON.stringify(mode)}`);
  } else if (bridged) {
    throw usageError('flags --subnet, --gateway, --ip-range, --vxlan, --masquerade and the rates need --network bridge');
  }

  if (flags.subnet !== undefined) annotations[ANNOTATIONS.subnet] = flags.subnet;
  if (flags.masquerade) annotations[ANNOTATIONS.masquerade] = 'true';
  if (flags.egressRate !== undefined) annotations[ANNOTATIONS.egressRate] = flags.egressRate;
  if (flags.egressBurst !== undefined) annotations[ANNOTATIONS.egressBurst] = flags.egressBurst;
  if (flags.ingressRate !== undefined) annotations[ANNOTATIONS.ingressRate] = flags.ingressRate;
  if (flags.ingressBurst !== undefined) annotations[ANNOTATIONS.ingressBurst] = flags.ingressBurst;
  if (flags.gateway !== undefined) annotations[ANNOTATIONS.gateway] = flags.gateway;
  if (flags.ipRange !== undefined) annotations[ANNOTATIONS.range] = flags.ipRange;
  if (flags.vxlan !== undefined) {
    const colon = flags.vxlan.indexOf(':');
    if (colon < 0) throw usageError(`flag --vxlan: expected VNI:REMOTE[,REMOTE...], got ${JSON.stringify(flags.vxlan)}`);
    annotations[ANNOTATIONS.vxlanId] = flags.vxlan.slice(0, colon);
    annotations[ANNOTATIONS.vxlanRemotes] = flags.vxlan.slice(colon + 1);
  }
  if (flags.firewall !== undefined) annotations[ANNOTATIONS.firewall] = readFirewallFlag(flags.firewall);
  if (Object.keys(annotations).length > 0) spec.annotations = { ...spec.annotations, ...annotations };
}

function readFirewallFlag(value: string): string {
  if (!value.startsWith('@')) return value;
  try {
    return readFileSync(value.slice(1), 'utf8');
  } catch (error) {
    throw usageError(`flag --firewall: read ${value.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
