import type { Direction, Firewall, FirewallRule, Intrusion, NetworkConfig, Offload, QosClass, QosMatch, Shaper, ShaperOptions } from './config.js';
import type { NetworkFile } from './ipam.js';

/** The interface name of the container's end of the veth pair, inside its namespace. */
export const CONTAINER_LINK = 'eth0';

/** nft table of a container's firewall, inside the container's network namespace. */
export const FIREWALL_TABLE = 'bulkhead';

/**
 * Host-side interface names of a container: the veth end on the bridge and the ifb device that
 * shapes its egress. Derived from the id with FNV-1a, since IFNAMSIZ leaves 15 bytes.
 */
export function linkNames(id: string): { veth: string; ifb: string } {
  const hash = fnv1a(id, 0x811c9dc5).toString(16).padStart(8, '0') + fnv1a(id, 0x01000193).toString(16).padStart(8, '0').slice(0, 4);
  return { veth: `bhv${hash}`, ifb: `bhi${hash}` };
}

function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

export function natTable(bridge: string): string {
  return `bulkhead-nat-${bridge}`;
}

/**
 * MTU of a vxlan device. NOTE: it assumes an underlay MTU of 1500; over a smaller one the kernel
 * fragments the outer packets, which works but costs throughput.
 */
const VXLAN_MTU = 1450;

/** Returns the name of the vxlan device of a bridge's overlay. */
export function vxlanName(bridge: string): string {
  return `bhx${fnv1a(bridge, 0x811c9dc5).toString(16).padStart(8, '0')}${fnv1a(bridge, 0x01000193).toString(16).padStart(8, '0').slice(0, 4)}`;
}

/**
 * Builds the `ip` lines that create a bridge with the gateway address and bring it up, with the
 * overlay's vxlan device (standard UDP port 4789) as one of its ports. The kernel sets the
 * bridge's MTU to its smallest port's, and the vxlan device's is 1450: an underlay MTU of 1500
 * minus vxlan's 50 bytes of headers.
 */
export function bridgeCommands(network: NetworkFile): string[] {
  const prefix = network.subnet.split('/')[1]!;
  const lines = [`link add ${network.bridge} type bridge`, `addr add ${network.gateway}/${prefix} dev ${network.bridge}`];
  if (network.vxlan !== undefined) {
    const vxlan = vxlanName(network.bridge);
    lines.push(`link add ${vxlan} mtu ${VXLAN_MTU} type vxlan id ${network.vxlan.id} dstport 4789`, `link set ${vxlan} master ${network.bridge} up`);
  }
  lines.push(`link set ${network.bridge} up`);
  return lines;
}

/** Builds the `bridge` lines that flood the overlay's broadcast and unknown traffic to every other host. */
export function floodCommands(network: NetworkFile): string[] {
  return (network.vxlan?.remotes ?? []).map((remote) => `fdb append 00:00:00:00:00:00 dev ${vxlanName(network.bridge)} dst ${remote}`);
}

/**
 * Source NAT for traffic from the subnet that leaves it. Rules only: forwarding
 * (net.ipv4.ip_forward) is a host-wide setting that bulkhead leaves to the operator.
 */
export function masqueradeRuleset(network: NetworkFile): string {
  const table = natTable(network.bridge);
  return [
    `table ip ${table} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${network.subnet} ip daddr != ${network.subnet} counter masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * `ip` lines run in the host's namespace: the veth pair with its container end created right in
 * the namespace of `pid`, the host end on the bridge, and the ifb device when egress is shaped.
 */
export function hostLinkCommands(id: string, pid: number, bridge: string, shaped: boolean, mtu = 1500): string[] {
  const { veth, ifb } = linkNames(id);
  const lines = [`link add ${veth} mtu ${mtu} type veth peer name ${CONTAINER_LINK} mtu ${mtu} netns ${pid}`, `link set ${veth} master ${bridge} up`];
  if (shaped) lines.push(`link add ${ifb} type ifb`, `link set ${ifb} up`);
  return lines;
}

/**
 * Builds the `tc` lines on the host's end of the veth pair. What the container receives leaves
 * the host end, so ingress is shaped by a root qdisc there. What the container sends arrives on
 * the host end, where a qdisc can only police, so egress is redirected to an ifb device and
 * shaped by its root qdisc.
 */
export function shapingCommands(id: string, config: Pick<NetworkConfig, 'egress' | 'ingress' | 'shaper' | 'qosClasses'>): string[] {
  const { veth, ifb } = linkNames(id);
  const lines: string[] = [];
  if (config.ingress !== undefined) lines.push(...rootShaper(veth, config.ingress, config.shaper, classesOf(config, 'ingress')));
  if (config.egress !== undefined) {
    lines.push(...rootShaper(ifb, config.egress, config.shaper, classesOf(config, 'egress')));
    lines.push(`qdisc add dev ${veth} handle ffff: ingress`);
    lines.push(`filter add dev ${veth} parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ${ifb}`);
  }
  return lines;
}

function classesOf(config: Pick<NetworkConfig, 'qosClasses'>, direction: Direction): QosClass[] {
  return config.qosClasses.filter((qosClass) => qosClass.direction === direction);
}

function rootShaper(device: string, shaper: Shaper, options: ShaperOptions, classes: QosClass[]): string[] {
  return options.algorithm === 'htb' ? htbCommands(device, shaper, options, classes) : [`qdisc add dev ${device} root ${tbf(shaper, options)}`];
}

/** Formats a token bucket filter. Packets that would wait more than 50 ms are dropped, so TCP adapts to the rate. */
function tbf(shaper: Shaper, options: ShaperOptions): string {
  return `tbf rate ${shaper.rate}bit burst ${shaper.burst} latency 50ms${options.overhead === undefined ? '' : ` overhead ${options.overhead}`}`;
}

/** Minor number of the htb class of unclassified traffic, and of the first QoS class (hexadecimal in tc). */
const DEFAULT_MINOR = 2;
const FIRST_CLASS_MINOR = 0x10;

/** Returns the htb class id of the QoS class at this index among its direction's classes. */
export function qosClassId(index: number): string {
  return `1:${(FIRST_CLASS_MINOR + index).toString(16)}`;
}

/**
 * Builds an htb tree. Class 1:1 has the direction's rate and burst. Under it, class 1:2 takes
 * unclassified traffic with what the QoS classes leave (at least 1% of the rate, priority 7),
 * and each QoS class has its own rate, ceiling and priority, with u32 filters that pick its packets.
 */
function htbCommands(device: string, shaper: Shaper, options: ShaperOptions, classes: QosClass[]): string[] {
  const extra = `${options.quantum === undefined ? '' : ` quantum ${options.quantum}`}${options.overhead === undefined ? '' : ` overhead ${options.overhead}`}`;
  const guaranteed = classes.reduce((total, qosClass) => total + qosClass.rate, 0);
  const rest = Math.max(shaper.rate - guaranteed, Math.ceil(shaper.rate / 100));
  const lines = [
    `qdisc add dev ${device} root handle 1: htb default ${DEFAULT_MINOR.toString(16)}`,
    `class add dev ${device} parent 1: classid 1:1 htb rate ${shaper.rate}bit ceil ${shaper.rate}bit burst ${shaper.burst} cburst ${shaper.burst}${extra}`,
    `class add dev ${device} parent 1:1 classid 1:${DEFAULT_MINOR.toString(16)} htb rate ${rest}bit ceil ${shaper.rate}bit prio 7${extra}`,
  ];
  classes.forEach((qosClass, i) => {
    lines.push(`class add dev ${device} parent 1:1 classid ${qosClassId(i)} htb rate ${qosClass.rate}bit ceil ${qosClass.ceil}bit prio ${qosClass.prio}${extra}`);
    for (const selector of u32Selectors(qosClass.match)) lines.push(`filter add dev ${device} parent 1: protocol ip prio ${i + 1} u32 ${selector} flowid ${qosClassId(i)}`);
  });
  return lines;
}

/**
 * Returns the u32 selectors of a match. u32 reads the ports at fixed offsets, so port matches
 * also require a 20-byte IPv4 header: packets with IP options go to the default class.
 */
function u32Selectors(match: QosMatch): string[] {
  if ('dscp' in match) return [`match ip dsfield 0x${(match.dscp << 2).toString(16)} 0xfc`];
  const [field, port] = 'dport' in match ? ['dport', match.dport] : ['sport', match.sport];
  return [6, 17].map((protocol) => `match u8 0x05 0x0f at 0 match ip protocol ${protocol} 0xff match ip ${field} ${port} 0xffff`);
}

/** Formats the `ethtool -K` arguments of the offload switches, such as ["gro", "off", "tso", "on"]. */
export function offloadArguments(offload: Offload): string[] {
  return (['gro', 'tso', 'gso'] as const).flatMap((feature) => (offload[feature] === undefined ? [] : [feature, offload[feature] ? 'on' : 'off']));
}

/**
 * Builds the container's firewall as an nft ruleset, applied inside its network namespace. Each
 * direction is one base chain: established replies and loopback pass, then the container's own
 * rules, then each security group's chain, then a counted policy. Every rule carries a counter
 * and a comment naming it, which `networkStats` reads back.
 */
export function firewallRuleset(firewall: Firewall | undefined, groups: Record<string, FirewallRule[]>): string {
  const lines = [`table inet ${FIREWALL_TABLE} {`];
  const intrusion = firewall?.intrusion;
  if (intrusion !== undefined) lines.push(...intrusionSets(intrusion));
  for (const [name, rules] of Object.entries(groups)) {
    for (const direction of ['ingress', 'egress'] as const) {
      lines.push(`  chain sg-${name}-${direction} {`);
      rules.forEach((rule, i) => {
        if (rule.direction === direction) lines.push(`    ${ruleText(rule, `group ${name} rule ${i}`)}`);
      });
      lines.push('  }');
    }
  }
  for (const [direction, chain, hook, iface] of [['ingress', 'input', 'input', 'iif'], ['egress', 'output', 'output', 'oif']] as const) {
    const policy = firewall?.policy?.[direction] ?? 'accept';
    lines.push(`  chain ${chain} {`, `    type filter hook ${hook} priority filter; policy ${policy};`, '    ct state established,related accept', `    ${iface} "lo" accept`);
    if (direction === 'ingress' && intrusion !== undefined) lines.push(...intrusionBlock(intrusion));
    (firewall?.rules ?? []).forEach((rule, i) => {
      if (rule.direction === direction) lines.push(`    ${ruleText(rule, `rule ${i}`)}`);
    });
    for (const name of Object.keys(groups)) lines.push(`    jump sg-${name}-${direction}`);
    if (direction === 'ingress' && intrusion?.portScanRate !== undefined) lines.push(`    ct state new update @port-scan { ip saddr limit rate over ${intrusion.portScanRate}/second burst ${intrusion.portScanRate} packets } add @blocked { ip saddr } counter comment "port scan"`);
    lines.push(`    counter comment "${direction} policy"`, '  }');
  }
  lines.push('}', '');
  return lines.join('\n');
}

/**
 * Declares the sets of the intrusion detectors: the blocked sources, whose entries expire after
 * `blockSeconds`, and one rate meter per source for each detector.
 */
function intrusionSets(intrusion: Intrusion): string[] {
  const meter = (name: string) => `  set ${name} { type ipv4_addr; flags dynamic, timeout; timeout 10s; }`;
  return [`  set blocked { type ipv4_addr; flags dynamic, timeout; timeout ${intrusion.blockSeconds ?? 60}s; }`, meter('syn-flood'), meter('port-scan')];
}

/** Builds the first ingress rules: drop blocked sources, then block a source whose SYN rate is over the limit. */
function intrusionBlock(intrusion: Intrusion): string[] {
  const lines = ['    ip saddr @blocked counter drop comment "intrusion block"'];
  if (intrusion.synFloodRate !== undefined) lines.push(`    tcp flags syn ct state new update @syn-flood { ip saddr limit rate over ${intrusion.synFloodRate}/second burst ${intrusion.synFloodRate} packets } add @blocked { ip saddr } counter drop comment "syn flood"`);
  return lines;
}

function ruleText(rule: FirewallRule, comment: string): string {
  const parts: string[] = [];
  if (rule.cidr !== undefined) parts.push(`ip ${rule.direction === 'ingress' ? 'saddr' : 'daddr'} ${rule.cidr}`);
  if (rule.protocol !== undefined) parts.push(`meta l4proto ${rule.protocol}`);
  else if (rule.port !== undefined) parts.push('meta l4proto { tcp, udp }');
  if (rule.port !== undefined) parts.push(`th dport ${rule.port}`);
  parts.push('counter', rule.action === 'reject' && rule.protocol === 'tcp' ? 'reject with tcp reset' : rule.action, `comment "${comment}"`);
  return parts.join(' ');
}
