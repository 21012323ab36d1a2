import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Container, ContainerSpec } from '@bulkhead/core';
import { ANNOTATIONS, hasIntrusionDetectors, watchIntrusions, type IntrusionEvent } from '@bulkhead/plugin-net';
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
  /** htb|tbf[,quantum=BYTES][,overhead=BYTES] */
  shaper?: string;
  /** Each NAME:RATE[:CEIL][:PRIO],match=dport:PORT|sport:PORT|dscp:VALUE[,direction=egress|ingress]. */
  qosClass: string[];
  /** gro=on|off[,tso=on|off][,gso=on|off] */
  offload?: string;
}

/** Flags that take one value, by flag name and NetworkFlags field. */
export const NETWORK_VALUE_FLAGS: Record<string, 'network' | 'subnet' | 'egressRate' | 'egressBurst' | 'ingressRate' | 'ingressBurst' | 'firewall' | 'gateway' | 'ipRange' | 'vxlan' | 'shaper' | 'offload'> = {
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
  shaper: 'shaper',
  offload: 'offload',
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
  const bridged = [flags.subnet, flags.egressRate, flags.ingressRate, flags.egressBurst, flags.ingressBurst, flags.gateway, flags.ipRange, flags.vxlan, flags.shaper, flags.offload].some((value) => value !== undefined) || flags.masquerade || flags.qosClass.length > 0;
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
    throw usageError('flags --subnet, --gateway, --ip-range, --vxlan, --masquerade, the rates, --shaper, --qos-class and --offload need --network bridge');
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
  if (flags.shaper !== undefined) annotations[ANNOTATIONS.shaper] = JSON.stringify(parseShaperFlag(flags.shaper));
  if (flags.qosClass.length > 0) annotations[ANNOTATIONS.qosClasses] = JSON.stringify(flags.qosClass.map(parseQosClassFlag));
  if (flags.offload !== undefined) annotations[ANNOTATIONS.offload] = JSON.stringify(parseOffloadFlag(flags.offload));
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

/** Parses an integer of a flag, or fails naming the flag. */
function integer(flag: string, text: string, value: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`flag --${flag}: expected an integer, got ${JSON.stringify(text)} in ${JSON.stringify(value)}`);
  return Number(text);
}

/** Parses --shaper htb|tbf[,quantum=BYTES][,overhead=BYTES]; the plugin checks the ranges. */
export function parseShaperFlag(value: string): Record<string, unknown> {
  const [algorithm, ...options] = value.split(',');
  const shaper: Record<string, unknown> = { algorithm };
  for (const option of options) {
    const [key, text = ''] = option.split('=');
    if (key !== 'quantum' && key !== 'overhead') throw usageError(`flag --shaper: expected htb|tbf[,quantum=BYTES][,overhead=BYTES], got ${JSON.stringify(value)}`);
    shaper[key] = integer('shaper', text, value);
  }
  return shaper;
}

/**
 * Parses --qos-class NAME:RATE[:CEIL][:PRIO],match=dport:PORT|sport:PORT|dscp:VALUE[,direction=egress|ingress].
 * A third field that is a digit from 0 to 7 is the priority; any other is the ceiling.
 */
export function parseQosClassFlag(value: string): Record<string, unknown> {
  const expected = `flag --qos-class: expected NAME:RATE[:CEIL][:PRIO],match=dport:PORT|sport:PORT|dscp:VALUE[,direction=egress|ingress], got ${JSON.stringify(value)}`;
  const [head = '', ...options] = value.split(',');
  const [name, rate, ...rest] = head.split(':');
  if (name === undefined || rate === undefined || rest.length > 2) throw usageError(expected);
  const qosClass: Record<string, unknown> = { name, rate };
  if (rest.length === 2 || (rest.length === 1 && !/^[0-7]$/.test(rest[0]!))) qosClass.ceil = rest[0];
  if (rest.length === 2 || (rest.length === 1 && /^[0-7]$/.test(rest[0]!))) qosClass.prio = integer('qos-class', rest.at(-1)!, value);
  for (const option of options) {
    const [key, text = ''] = option.split('=');
    const [field, number = ''] = text.split(':');
    if (key === 'direction') qosClass.direction = text;
    else if (key === 'match' && (field === 'dport' || field === 'sport' || field === 'dscp')) qosClass.match = { [field]: integer('qos-class', number, value) };
    else throw usageError(expected);
  }
  if (qosClass.match === undefined) throw usageError(`flag --qos-class: missing match=dport:PORT|sport:PORT|dscp:VALUE in ${JSON.stringify(value)}`);
  return qosClass;
}

/** Parses --offload gro=on|off[,tso=on|off][,gso=on|off]. */
export function parseOffloadFlag(value: string): Record<string, boolean> {
  const offload: Record<string, boolean> = {};
  for (const option of value.split(',')) {
    const [key = '', state] = option.split('=');
    if (!['gro', 'tso', 'gso'].includes(key) || (state !== 'on' && state !== 'off')) throw usageError(`flag --offload: expected gro|tso|gso=on|off separated by commas, got ${JSON.stringify(value)}`);
    offload[key] = state === 'on';
  }
  return offload;
}

/**
 * Starts the intrusion watcher of a running container whose firewall has detectors, so that each
 * blocked source is recorded in its audit file. A failed reading is a warning on stderr. Returns
 * the stop function, which does nothing for a container without detectors.
 */
export function startIntrusionWatch(container: Container, onBlock?: (event: IntrusionEvent) => void): () => Promise<void> {
  if (!hasIntrusionDetectors(container.spec)) return async () => {};
  const watcher = watchIntrusions(container);
  watcher.on('error', (error) => process.stderr.write(`bulkhead: warning: ${error.message}\n`));
  if (onBlock !== undefined) watcher.on('block', onBlock);
  return () => watcher.close();
}
