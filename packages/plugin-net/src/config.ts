import { existsSync } from 'node:fs';
import { findNamespace, type ContainerSpec } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-net';

/** Annotations that carry a container's network settings, for OCI bundles and the library alike. */
export const ANNOTATIONS = Object.freeze({
  mode: 'bulkhead.network.mode',
  bridge: 'bulkhead.network.bridge',
  subnet: 'bulkhead.network.subnet',
  masquerade: 'bulkhead.network.masquerade',
  egressRate: 'bulkhead.network.egress-rate',
  egressBurst: 'bulkhead.network.egress-burst',
  ingressRate: 'bulkhead.network.ingress-rate',
  ingressBurst: 'bulkhead.network.ingress-burst',
  firewall: 'bulkhead.network.firewall',
  securityGroups: 'bulkhead.network.security-groups',
  gateway: 'bulkhead.network.gateway',
  range: 'bulkhead.network.range',
  vxlanId: 'bulkhead.network.vxlan-id',
  vxlanRemotes: 'bulkhead.network.vxlan-remotes',
  cniConfig: 'bulkhead.network.cni-config',
  shaper: 'bulkhead.network.shaper',
  qosClasses: 'bulkhead.network.qos-classes',
  offload: 'bulkhead.network.offload',
} as const);

export const DEFAULT_BRIDGE = 'bulkhead0';
export const DEFAULT_SUBNET = '10.213.0.0/24';

/** A token bucket: rate in bits per second, burst in bytes. */
export interface Shaper {
  rate: number;
  burst: number;
}

export type Direction = 'ingress' | 'egress';

/**
 * Shaping algorithm of both directions' rates. tbf is one token bucket, and htb a parent class
 * at the rate that its QoS classes share. quantum (htb only) is the bytes a class sends per round
 * when classes borrow. overhead is added to every packet's length in rate computations.
 */
export interface ShaperOptions {
  algorithm: 'htb' | 'tbf';
  quantum?: number;
  overhead?: number;
}

/** Packet field that selects a QoS class: the destination or source TCP or UDP port, or the DSCP. */
export type QosMatch = { dport: number } | { sport: number } | { dscp: number };

/**
 * An HTB class under one direction's rate: a guaranteed rate, a ceiling up to which it borrows
 * unused rate, and a priority (0 to 7, lower first) for what is borrowed.
 */
export interface QosClass {
  name: string;
  direction: Direction;
  rate: number;
  ceil: number;
  prio: number;
  match: QosMatch;
}

/** Offload switches of the container's veth pair, set on both ends; a feature left out keeps the kernel's default. */
export interface Offload {
  gro?: boolean;
  tso?: boolean;
  gso?: boolean;
}

export interface FirewallRule {
  direction: Direction;
  action: 'accept' | 'drop' | 'reject';
  /** The peer's address range: the source for ingress, the destination for egress. */
  cidr?: string;
  protocol?: 'tcp' | 'udp' | 'icmp';
  /** A port or an inclusive range "FIRST-LAST", the container's port for ingress, the peer's for egress. */
  port?: number | string;
}

export interface Firewall {
  /** Verdict per direction for a packet that no rule matched. Default accept. */
  policy?: Partial<Record<Direction, 'accept' | 'drop'>>;
  rules?: FirewallRule[];
  intrusion?: Intrusion;
}

/**
 * Rate-based intrusion detectors on ingress. A source over a rate is added to a set of blocked
 * sources, whose packets are dropped for `blockSeconds` (default 60).
 */
export interface Intrusion {
  /** New TCP connections (SYN) per second from one source. */
  synFloodRate?: number;
  /** New connections per second from one source that no rule accepted: probes of ports that are not open to it. */
  portScanRate?: number;
  blockSeconds?: number;
}

/** A container's network as the annotations and the namespace list ask for it. */
export interface NetworkConfig {
  /**
   * Where the container's network comes from. host is the host's namespace, and join the one at
   * the linux.namespaces path. The others create one: none with loopback only, bridge on a
   * bridge, and cni handed to CNI plugins.
   */
  mode: 'host' | 'join' | 'none' | 'bridge' | 'cni';
  /** The CNI network config (.conf or .conflist) of mode cni. */
  cniConfig?: string;
  bridge: string;
  subnet: string;
  masquerade: boolean;
  egress?: Shaper;
  ingress?: Shaper;
  firewall?: Firewall;
  securityGroups: string[];
  /** The bridge's own address; default the subnet's first host address. */
  gateway?: string;
  /** First and last address leased to containers; default the whole subnet. */
  range?: [string, string];
  /** A vxlan overlay that joins this bridge with the same network on other hosts. */
  vxlan?: Vxlan;
  /** The shaping algorithm of the rates; htb when there are QoS classes, else tbf. */
  shaper: ShaperOptions;
  qosClasses: QosClass[];
  offload?: Offload;
}

/** A vxlan device on the bridge: its VNI and the underlay addresses of the other hosts, to which it floods. */
export interface Vxlan {
  id: number;
  remotes: string[];
}

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 * 1024, m: 1024 * 1024 };

/** Parses a rate as tc writes it ("10mbit", "500kbit", "1mbps" for bytes) into bits per second. */
export function parseRate(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([a-z]+)$/.exec(text.trim().toLowerCase());
  const unit = match === null ? undefined : RATE_UNITS[match[2]!];
  if (match === null || unit === undefined) return undefined;
  const rate = Math.round(Number(match[1]) * unit);
  return rate >= 8 ? rate : undefined;
}

/** Parses a size ("32kb", "1mb", "15000") into bytes. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)([a-z]*)$/.exec(text.trim().toLowerCase());
  const unit = match === null ? undefined : SIZE_UNITS[match[2]!];
  if (match === null || unit === undefined) return undefined;
  const size = Number(match[1]) * unit;
  return size > 0 ? size : undefined;
}

/**
 * Returns the default burst: 20 ms at the rate, at least 16 KiB. tbf needs a burst of at least one
 * timer tick's worth of bytes at the rate, and a GSO packet larger than the burst is split.
 */
export function defaultBurst(rate: number): number {
  return Math.max(16 * 1024, Math.ceil(rate / 8 / 50));
}

/** Parses an IPv4 CIDR into its network address and prefix length. */
export function parseCidr(text: string): { address: number; prefix: number } | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (match === null) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  return { address: octets.reduce((sum, o) => sum * 256 + o, 0), prefix };
}

export function formatAddress(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/** Reads the network settings of a spec; every problem is reported with its JSON path. */
export function readNetworkConfig(spec: ContainerSpec, report: (path: string, message: string) => void = () => {}): NetworkConfig {
  const annotations = spec.annotations ?? {};
  const at = (key: string) => `annotations["${key}"]`;
  const entry = findNamespace(spec, 'network');
  const requested = annotations[ANNOTATIONS.mode];
  let mode: NetworkConfig['mode'] = 'none';
  if (entry === undefined) mode = 'host';
  else if (entry.path !== undefined) mode = 'join';
  if (requested !== undefined) {
    if (requested !== 'none' && requested !== 'bridge' && requested !== 'cni') report(at(ANNOTATIONS.mode), `must be none, bridge or cni, got ${JSON.stringify(requested)}; host and joining are chosen in linux.namespaces`);
    else if (mode !== 'none') report(at(ANNOTATIONS.mode), `network mode ${requested} needs a new network namespace in linux.namespaces (an entry of type network without a path)`);
    else mode = requested;
  }
  const config: NetworkConfig = {
    mode,
    bridge: annotations[ANNOTATIONS.bridge] ?? DEFAULT_BRIDGE,
    subnet: annotations[ANNOTATIONS.subnet] ?? DEFAULT_SUBNET,
    masquerade: annotations[ANNOTATIONS.masquerade] === 'true',
    securityGroups: (annotations[ANNOTATIONS.securityGroups] ?? '').split(',').map((name) => name.trim()).filter((name) => name !== ''),
    shaper: { algorithm: 'tbf' },
    qosClasses: [],
  };

  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(config.bridge)) report(at(ANNOTATIONS.bridge), 'must be an interface name: 1 to 15 letters, digits, "_", "." or "-"');
  const subnet = parseCidr(config.subnet);
  if (subnet === undefined || subnet.prefix > 30 || subnet.prefix < 8) report(at(ANNOTATIONS.subnet), `must be an IPv4 subnet with a prefix from /8 to /30, got ${JSON.stringify(config.subnet)}`);
  if (!['true', 'false', undefined].includes(annotations[ANNOTATIONS.masquerade])) report(at(ANNOTATIONS.masquerade), 'must be true or false');

  for (const direction of ['egress', 'ingress'] as const) readShaper(config, direction, annotations, report);
  readFirewall(config, annotations, report);
  readCniConfig(config, annotations, report);
  if (subnet !== undefined) readAddressing(config, subnet, annotations, report);
  readVxlan(config, annotations, report);
  readQos(config, annotations, report);
  readOffload(config, annotations, report);

  const bridgeOnly = [ANNOTATIONS.bridge, ANNOTATIONS.subnet, ANNOTATIONS.gateway, ANNOTATIONS.range, ANNOTATIONS.vxlanId, ANNOTATIONS.egressRate, ANNOTATIONS.ingressRate, ANNOTATIONS.shaper, ANNOTATIONS.qosClasses, ANNOTATIONS.offload].some((key) => key in annotations) || config.masquerade;
  if (bridgeOnly && config.mode !== 'bridge') report(at(ANNOTATIONS.mode), 'bridge, subnet, gateway, range, vxlan, masquerade, rate, shaper, QoS and offload settings need network mode bridge');
  if ((config.firewall !== undefined || config.securityGroups.length > 0) && (config.mode === 'host' || config.mode === 'join')) report(at(ANNOTATIONS.firewall), 'a firewall needs a new network namespace of the container\'s own');
  return config;
}

function readCniConfig(config: NetworkConfig, annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const path = annotations[ANNOTATIONS.cniConfig];
  const at = `annotations["${ANNOTATIONS.cniConfig}"]`;
  if (path === undefined) {
    if (config.mode === 'cni') report(at, 'network mode cni needs the path of a CNI network config');
    return;
  }
  if (config.mode !== 'cni') report(at, 'needs network mode cni');
  else if (!path.startsWith('/') || !existsSync(path)) report(at, `must be the absolute path of an existing CNI config file, got ${JSON.stringify(path)}`);
  else config.cniConfig = path;
}

/** Reads the gateway and the lease range, both of which must lie inside the subnet. */
function readAddressing(config: NetworkConfig, subnet: { address: number; prefix: number }, annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const inside = (text: string) => {
    const parsed = parseCidr(`${text}/32`);
    const size = 2 ** (32 - subnet.prefix);
    const base = subnet.address - (subnet.address % size);
    return parsed !== undefined && parsed.address > base && parsed.address < base + size - 1;
  };
  const gateway = annotations[ANNOTATIONS.gateway];
  if (gateway !== undefined) {
    if (inside(gateway)) config.gateway = gateway;
    else report(`annotations["${ANNOTATIONS.gateway}"]`, `must be a host address inside ${config.subnet}, got ${JSON.stringify(gateway)}`);
  }
  const range = annotations[ANNOTATIONS.range];
  if (range === undefined) return;
  const [first, last] = range.split('-');
  if (first !== undefined && last !== undefined && inside(first) && inside(last) && parseCidr(`${first}/32`)!.address <= parseCidr(`${last}/32`)!.address) config.range = [first, last];
  else report(`annotations["${ANNOTATIONS.range}"]`, `must be FIRST-LAST, two host addresses inside ${config.subnet} in order, got ${JSON.stringify(range)}`);
}

function readVxlan(config: NetworkConfig, annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const id = annotations[ANNOTATIONS.vxlanId];
  const remotes = annotations[ANNOTATIONS.vxlanRemotes];
  if (id === undefined) {
    if (remotes !== undefined) report(`annotations["${ANNOTATIONS.vxlanRemotes}"]`, `needs ${ANNOTATIONS.vxlanId}`);
    return;
  }
  if (!/^\d+$/.test(id) || Number(id) < 1 || Number(id) > 0xffffff) report(`annotations["${ANNOTATIONS.vxlanId}"]`, `must be a VNI from 1 to 16777215, got ${JSON.stringify(id)}`);
  const list = (remotes ?? '').split(',').map((remote) => remote.trim()).filter((remote) => remote !== '');
  if (list.length === 0) report(`annotations["${ANNOTATIONS.vxlanRemotes}"]`, 'must list the underlay IPv4 address of at least one other host');
  list.forEach((remote) => {
    if (parseCidr(`${remote}/32`) === undefined) report(`annotations["${ANNOTATIONS.vxlanRemotes}"]`, `must be IPv4 addresses separated by commas, got ${JSON.stringify(remote)}`);
  });
  config.vxlan = { id: Number(id), remotes: list };
}

function readShaper(config: NetworkConfig, direction: Direction, annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const rateKey = direction === 'egress' ? ANNOTATIONS.egressRate : ANNOTATIONS.ingressRate;
  const burstKey = direction === 'egress' ? ANNOTATIONS.egressBurst : ANNOTATIONS.ingressBurst;
  const rateText = annotations[rateKey];
  const burstText = annotations[burstKey];
  if (rateText === undefined) {
    if (burstText !== undefined) report(`annotations["${burstKey}"]`, `needs ${rateKey}`);
    return;
  }
  const rate = parseRate(rateText);
  if (rate === undefined) return report(`annotations["${rateKey}"]`, `must be a rate such as 10mbit or 500kbit, got ${JSON.stringify(rateText)}`);
  const burst = burstText === undefined ? defaultBurst(rate) : parseSize(burstText);
  if (burst === undefined) return report(`annotations["${burstKey}"]`, `must be a size such as 32kb, got ${JSON.stringify(burstText)}`);
  config[direction] = { rate, burst };
}

function readFirewall(config: NetworkConfig, annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const value = readJson(annotations, ANNOTATIONS.firewall, 'object', report, 'a JSON object with policy and rules');
  if (value === undefined) return;
  const at = `annotations["${ANNOTATIONS.firewall}"]`;
  const firewall = value as Firewall;
  for (const [direction, policy] of Object.entries(firewall.policy ?? {})) {
    if (direction !== 'ingress' && direction !== 'egress') report(`${at}.policy`, `unknown direction ${JSON.stringify(direction)}`);
    else if (policy !== 'accept' && policy !== 'drop') report(`${at}.policy.${direction}`, 'must be accept or drop');
  }
  if (firewall.rules !== undefined && !Array.isArray(firewall.rules)) return report(`${at}.rules`, 'must be an array');
  for (const [key, value] of Object.entries(firewall.intrusion ?? {})) {
    if (!['synFloodRate', 'portScanRate', 'blockSeconds'].includes(key)) report(`${at}.intrusion`, `unknown detector setting ${JSON.stringify(key)}; expected synFloodRate, portScanRate or blockSeconds`);
    else if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 1_000_000) report(`${at}.intrusion.${key}`, 'must be an integer from 1 to 1000000');
  }
  (firewall.rules ?? []).forEach((rule, i) => checkRule(rule, `${at}.rules[${i}]`, report));
  config.firewall = firewall;
}

/** Checks one firewall rule; used for container rules and security groups alike. */
export function checkRule(rule: FirewallRule, at: string, report: (path: string, message: string) => void): void {
  if (rule === null || typeof rule !== 'object') return report(at, 'must be an object');
  if (rule.direction !== 'ingress' && rule.direction !== 'egress') report(`${at}.direction`, 'must be ingress or egress');
  if (!['accept', 'drop', 'reject'].includes(rule.action)) report(`${at}.action`, 'must be accept, drop or reject');
  if (rule.cidr !== undefined && parseCidr(rule.cidr.includes('/') ? rule.cidr : `${rule.cidr}/32`) === undefined) report(`${at}.cidr`, `must be an IPv4 address or subnet, got ${JSON.stringify(rule.cidr)}`);
  if (rule.protocol !== undefined && !['tcp', 'udp', 'icmp'].includes(rule.protocol)) report(`${at}.protocol`, 'must be tcp, udp or icmp');
  if (rule.port !== undefined) {
    if (rule.protocol === 'icmp') report(`${at}.port`, 'icmp has no ports');
    const [first, last = first] = String(rule.port).split('-').map(Number);
    const valid = (n: number | undefined) => Number.isInteger(n) && n! >= 1 && n! <= 65535;
    if (!valid(first) || !valid(last) || last! < first! || !/^\d+(-\d+)?$/.test(String(rule.port))) report(`${at}.port`, `must be a port from 1 to 65535 or a range FIRST-LAST, got ${JSON.stringify(rule.port)}`);
  }
}

/** Parses a JSON annotation; reports and returns undefined when it is not JSON of the expected shape. */
function readJson(annotations: Record<string, string>, key: string, shape: 'object' | 'array', report: (path: string, message: string) => void, expected = `a JSON ${shape}`): unknown {
  const text = annotations[key];
  if (text === undefined) return undefined;
  const at = `annotations["${key}"]`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return report(at, `must be JSON: ${(error as Error).message}`);
  }
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  const valid = shape === 'array' ? Array.isArray(value) : isObject;
  if (!valid) return report(at, `must be ${expected}`);
  return value;
}

/** Reports a value that is not an integer from min to max; returns whether it is one. */
function checkInteger(value: unknown, at: string, min: number, max: number, report: (path: string, message: string) => void): value is number {
  if (Number.isInteger(value) && (value as number) >= min && (value as number) <= max) return true;
  report(at, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return false;
}

/** Reads the shaper options and the QoS classes; both need the rate of the direction they shape. */
function readQos(config: NetworkConfig, annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const shaperAt = `annotations["${ANNOTATIONS.shaper}"]`;
  const shaper = readJson(annotations, ANNOTATIONS.shaper, 'object', report) as Record<string, unknown> | undefined;
  const classes = readJson(annotations, ANNOTATIONS.qosClasses, 'array', report) as unknown[] | undefined;
  if (shaper !== undefined) {
    for (const key of Object.keys(shaper)) if (!['algorithm', 'quantum', 'overhead'].includes(key)) report(`${shaperAt}.${key}`, 'unknown setting; expected algorithm, quantum or overhead');
    if (shaper.algorithm !== undefined && shaper.algorithm !== 'htb' && shaper.algorithm !== 'tbf') report(`${shaperAt}.algorithm`, `must be htb or tbf, got ${JSON.stringify(shaper.algorithm)}`);
    else config.shaper.algorithm = (shaper.algorithm as 'htb' | 'tbf' | undefined) ?? (classes !== undefined && classes.length > 0 ? 'htb' : 'tbf');
    // The kernel warns about htb quanta outside 1000 to 200000 bytes and clamps them.
    if (shaper.quantum !== undefined && checkInteger(shaper.quantum, `${shaperAt}.quantum`, 1000, 200000, report)) {
      if (config.shaper.algorithm === 'tbf') report(`${shaperAt}.quantum`, 'applies to algorithm htb only: tbf has no quantum');
      else config.shaper.quantum = shaper.quantum;
    }
    if (shaper.overhead !== undefined && checkInteger(shaper.overhead, `${shaperAt}.overhead`, 0, 1024, report)) config.shaper.overhead = shaper.overhead;
    if (config.egress === undefined && config.ingress === undefined) report(shaperAt, `needs ${ANNOTATIONS.egressRate} or ${ANNOTATIONS.ingressRate}`);
  }
  if (classes === undefined) return;
  if (classes.length > 0 && shaper?.algorithm === undefined) config.shaper.algorithm = 'htb';
  if (config.shaper.algorithm === 'tbf' && classes.length > 0) report(`${shaperAt}.algorithm`, 'QoS classes need algorithm htb');
  if (classes.length > 64) return report(`annotations["${ANNOTATIONS.qosClasses}"]`, 'must have at most 64 classes');
  classes.forEach((value, i) => {
    const qosClass = readQosClass(config, value, `annotations["${ANNOTATIONS.qosClasses}"][${i}]`, report);
    if (qosClass === undefined) return;
    if (config.qosClasses.some((other) => other.name === qosClass.name)) report(`annotations["${ANNOTATIONS.qosClasses}"][${i}].name`, `duplicate class name ${JSON.stringify(qosClass.name)}`);
    config.qosClasses.push(qosClass);
  });
  for (const direction of ['egress', 'ingress'] as const) {
    const sum = config.qosClasses.filter((c) => c.direction === direction).reduce((total, c) => total + c.rate, 0);
    const parent = config[direction];
    if (parent !== undefined && sum > parent.rate) report(`annotations["${ANNOTATIONS.qosClasses}"]`, `the ${direction} classes' rates add up to ${sum}bit, more than the ${direction} rate of ${parent.rate}bit`);
  }
}

function readQosClass(config: NetworkConfig, value: unknown, at: string, report: (path: string, message: string) => void): QosClass | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return report(at, 'must be an object with name, rate and match'), undefined;
  const entry = value as Record<string, unknown>;
  let valid = true;
  const counted = (path: string, message: string) => {
    valid = false;
    report(path, message);
  };
  for (const key of Object.keys(entry)) if (!['name', 'direction', 'rate', 'ceil', 'prio', 'match'].includes(key)) counted(`${at}.${key}`, 'unknown setting; expected name, direction, rate, ceil, prio or match');
  if (typeof entry.name !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(entry.name)) counted(`${at}.name`, 'must be 1 to 32 letters, digits, "_" or "-"');
  const direction = entry.direction ?? 'egress';
  if (direction !== 'egress' && direction !== 'ingress') counted(`${at}.direction`, 'must be egress or ingress');
  const parent = direction === 'ingress' ? config.ingress : config.egress;
  if ((direction === 'egress' || direction === 'ingress') && parent === undefined) counted(`${at}.direction`, `a ${direction} class needs ${direction === 'egress' ? ANNOTATIONS.egressRate : ANNOTATIONS.ingressRate}, the rate its classes share`);
  const rate = typeof entry.rate === 'string' ? parseRate(entry.rate) : undefined;
  if (rate === undefined) counted(`${at}.rate`, `must be a rate such as 10mbit or 500kbit, got ${JSON.stringify(entry.rate)}`);
  let ceil = parent?.rate;
  if (entry.ceil !== undefined) ceil = typeof entry.ceil === 'string' ? parseRate(entry.ceil) : undefined;
  if (ceil === undefined && entry.ceil !== undefined) counted(`${at}.ceil`, `must be a rate such as 10mbit or 500kbit, got ${JSON.stringify(entry.ceil)}`);
  else if (ceil !== undefined && rate !== undefined && (ceil < rate || (parent !== undefined && ceil > parent.rate))) counted(`${at}.ceil`, `must be from the class rate to the ${direction} rate (${rate}bit to ${parent?.rate}bit), got ${ceil}bit`);
  if (entry.prio !== undefined) checkInteger(entry.prio, `${at}.prio`, 0, 7, counted);
  const match = readMatch(entry.match, `${at}.match`, counted);
  if (!valid) return undefined;
  return { name: entry.name as string, direction: direction as Direction, rate: rate!, ceil: ceil!, prio: (entry.prio as number | undefined) ?? 0, match: match! };
}

/** Reads a class's match: exactly one of dport, sport (TCP or UDP ports) or dscp. */
function readMatch(value: unknown, at: string, report: (path: string, message: string) => void): QosMatch | undefined {
  const keys = value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
  if (keys.length !== 1 || !['dport', 'sport', 'dscp'].includes(keys[0]!)) return report(at, 'must be an object with one of dport, sport or dscp, such as {"dport":5201}'), undefined;
  const key = keys[0] as 'dport' | 'sport' | 'dscp';
  const field = (value as Record<string, unknown>)[key];
  if (!checkInteger(field, `${at}.${key}`, key === 'dscp' ? 0 : 1, key === 'dscp' ? 63 : 65535, report)) return undefined;
  return { [key]: field } as QosMatch;
}

/** Reads the offload switches: gro, tso and gso, each true or false. */
function readOffload(config: NetworkConfig, annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const value = readJson(annotations, ANNOTATIONS.offload, 'object', report) as Record<string, unknown> | undefined;
  if (value === undefined) return;
  const at = `annotations["${ANNOTATIONS.offload}"]`;
  const offload: Offload = {};
  for (const [key, on] of Object.entries(value)) {
    if (key !== 'gro' && key !== 'tso' && key !== 'gso') report(`${at}.${key}`, 'unknown feature; expected gro, tso or gso');
    else if (typeof on !== 'boolean') report(`${at}.${key}`, `must be true or false, got ${JSON.stringify(on)}`);
    else offload[key] = on;
  }
  config.offload = offload;
}
