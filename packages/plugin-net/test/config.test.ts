import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec, type SpecError } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { hasIntrusionDetectors, netPlugin, newBlocks, parseRate, parseSize, linkNames, readNetworkConfig } from '../src/index.js';
import { bridgeCommands, firewallRuleset, floodCommands, hostLinkCommands, offloadArguments, shapingCommands, vxlanName } from '../src/commands.js';
import { lease, newNetwork } from '../src/ipam.js';
import { parseNetDev, ruleCounters } from '../src/stats.js';

const spec = (network: { path?: string } | undefined, annotations: Record<string, string> = {}): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args: ['sh'], cwd: '/' },
  linux: { namespaces: [{ type: 'pid' }, ...(network === undefined ? [] : [{ type: 'network' as const, ...network }])] },
  annotations,
});

const runtime = new Runtime().use(namespacesPlugin(['pid'])).use(netPlugin({ securityGroups: { web: [{ direction: 'ingress', action: 'accept', protocol: 'tcp', port: 80 }] } }));

function problems(s: ContainerSpec): string[] {
  const error = catchSpecError(() => runtime.validate(s));
  return error.problems.map((p) => `${p.path}: ${p.message}`);
}

function catchSpecError(fn: () => unknown): SpecError {
  try {
    fn();
  } catch (error) {
    return error as SpecError;
  }
  throw new Error('expected a SpecError');
}

test('a new network namespace is planned with its loopback device brought up', (t) => {
  const plan = runtime.describe(spec({}));
  t.deepEqual(plan.namespaces.find((ns) => ns.type === 'network'), { type: 'network', plugin: '@bulkhead/plugin-net' });
  t.true(plan.steps().some((s) => s.step.op === 'link-up' && s.step.name === 'lo' && s.phase === 'host'));
  t.false(plan.steps().some((s) => s.step.op === 'link-up' && s.step.name === 'eth0'));
});

test('bridge mode also plans eth0 to be brought up', (t) => {
  const plan = runtime.describe(spec({}, { 'bulkhead.network.mode': 'bridge' }));
  t.deepEqual(plan.steps().filter((s) => s.step.op === 'link-up').map((s) => s.step), [{ op: 'link-up', name: 'lo' }, { op: 'link-up', name: 'eth0' }]);
});

test('namespace path is joined without link-up', (t) => {
  const plan = runtime.describe(spec({ path: '/proc/self/ns/net' }));
  t.deepEqual(plan.namespaces.find((ns) => ns.type === 'network'), { type: 'network', plugin: '@bulkhead/plugin-net', path: '/proc/self/ns/net' });
  t.false(plan.steps().some((s) => s.step.op === 'link-up'));
});

test('without a network namespace entry the container stays in the host namespace', (t) => {
  const plan = runtime.describe(spec(undefined));
  t.is(plan.namespaces.find((ns) => ns.type === 'network'), undefined);
  t.false(plan.steps().some((s) => s.step.op === 'link-up'));
});

const invalid: [string, ContainerSpec, string][] = [
  ['bridge mode without a namespace of its own', spec(undefined, { 'bulkhead.network.mode': 'bridge' }), 'annotations["bulkhead.network.mode"]: network mode bridge needs a new network namespace in linux.namespaces (an entry of type network without a path)'],
  ['an unknown mode', spec({}, { 'bulkhead.network.mode': 'overlay' }), 'annotations["bulkhead.network.mode"]: must be none, bridge or cni, got "overlay"; host and joining are chosen in linux.namespaces'],
  ['a bad rate', spec({}, { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.egress-rate': '10 apples' }), 'annotations["bulkhead.network.egress-rate"]: must be a rate such as 10mbit or 500kbit, got "10 apples"'],
  ['a rate without a bridge', spec({}, { 'bulkhead.network.ingress-rate': '1mbit' }), 'annotations["bulkhead.network.mode"]: bridge, subnet, gateway, range, vxlan, masquerade, rate, shaper, QoS and offload settings need network mode bridge'],
  ['a subnet that is not IPv4', spec({}, { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.subnet': 'fd00::/64' }), 'annotations["bulkhead.network.subnet"]: must be an IPv4 subnet with a prefix from /8 to /30, got "fd00::/64"'],
  ['a bridge name longer than IFNAMSIZ allows', spec({}, { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.bridge': 'a-very-long-bridge' }), 'annotations["bulkhead.network.bridge"]: must be an interface name: 1 to 15 letters, digits, "_", "." or "-"'],
  ['firewall JSON that does not parse', spec({}, { 'bulkhead.network.firewall': '{' }), 'annotations["bulkhead.network.firewall"]: must be JSON'],
  ['a firewall rule with a bad port', spec({}, { 'bulkhead.network.firewall': JSON.stringify({ rules: [{ direction: 'ingress', action: 'accept', protocol: 'tcp', port: 70000 }] }) }), 'annotations["bulkhead.network.firewall"].rules[0].port: must be a port from 1 to 65535 or a range FIRST-LAST, got 70000'],
  ['a firewall rule with ports on icmp', spec({}, { 'bulkhead.network.firewall': JSON.stringify({ rules: [{ direction: 'egress', action: 'drop', protocol: 'icmp', port: 1 }] }) }), 'annotations["bulkhead.network.firewall"].rules[0].port: icmp has no ports'],
  ['a firewall in the host namespace', spec(undefined, { 'bulkhead.network.firewall': '{}' }), 'annotations["bulkhead.network.firewall"]: a firewall needs a new network namespace of the container\'s own'],
  ['a gateway outside the subnet', spec({}, { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.subnet': '10.5.0.0/24', 'bulkhead.network.gateway': '10.6.0.1' }), 'annotations["bulkhead.network.gateway"]: must be a host address inside 10.5.0.0/24, got "10.6.0.1"'],
  ['a range in the wrong order', spec({}, { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.subnet': '10.5.0.0/24', 'bulkhead.network.range': '10.5.0.20-10.5.0.10' }), 'annotations["bulkhead.network.range"]: must be FIRST-LAST, two host addresses inside 10.5.0.0/24 in order, got "10.5.0.20-10.5.0.10"'],
  ['a VNI out of range', spec({}, { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.vxlan-id': '16777216', 'bulkhead.network.vxlan-remotes': '192.0.2.9' }), 'annotations["bulkhead.network.vxlan-id"]: must be a VNI from 1 to 16777215, got "16777216"'],
  ['a vxlan without remotes', spec({}, { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.vxlan-id': '42' }), 'annotations["bulkhead.network.vxlan-remotes"]: must list the underlay IPv4 address of at least one other host'],
  ['mode cni without a config', spec({}, { 'bulkhead.network.mode': 'cni' }), 'annotations["bulkhead.network.cni-config"]: network mode cni needs the path of a CNI network config'],
  ['a CNI config that does not exist', spec({}, { 'bulkhead.network.mode': 'cni', 'bulkhead.network.cni-config': '/nonexistent/net.conflist' }), 'annotations["bulkhead.network.cni-config"]: must be the absolute path of an existing CNI config file, got "/nonexistent/net.conflist"'],
  ['an unknown intrusion detector', spec({}, { 'bulkhead.network.firewall': JSON.stringify({ intrusion: { slowloris: 3 } }) }), 'annotations["bulkhead.network.firewall"].intrusion: unknown detector setting "slowloris"; expected synFloodRate, portScanRate or blockSeconds'],
  ['a zero detector rate', spec({}, { 'bulkhead.network.firewall': JSON.stringify({ intrusion: { synFloodRate: 0 } }) }), 'annotations["bulkhead.network.firewall"].intrusion.synFloodRate: must be an integer from 1 to 1000000'],
  ['an unknown security group', spec({}, { 'bulkhead.network.security-groups': 'web,db' }), 'annotations["bulkhead.network.security-groups"]: no security group named "db" in this runtime; it has web'],
];
for (const [name, s, message] of invalid) {
  test(`rejects ${name}`, (t) => {
    const found = problems(s);
    t.true(found.some((p) => p.startsWith(message)), found.join('\n'));
  });
}

test('invalid security group rejects the plugin', (t) => {
  t.throws(() => netPlugin({ securityGroups: { db: [{ direction: 'sideways' as never, action: 'accept' }] } }), { message: '@bulkhead/plugin-net: securityGroups.db[0].direction: must be ingress or egress' });
});

test('rates and sizes read as tc writes them', (t) => {
  t.is(parseRate('10mbit'), 10_000_000);
  t.is(parseRate('500kbit'), 500_000);
  t.is(parseRate('1mbps'), 8_000_000);
  t.is(parseRate('1.5gbit'), 1_500_000_000);
  t.is(parseRate('10'), undefined);
  t.is(parseSize('32kb'), 32768);
  t.is(parseSize('1500'), 1500);
  t.is(parseSize('0'), undefined);
});

test('host link names fit IFNAMSIZ and differ between ids', (t) => {
  const a = linkNames('a-container');
  const b = linkNames('b-container');
  t.true(a.veth.length <= 15 && a.ifb.length <= 15);
  t.not(a.veth, b.veth);
  t.deepEqual(hostLinkCommands('a-container', 42, 'br0', false, 1450), [`link add ${a.veth} mtu 1450 type veth peer name eth0 mtu 1450 netns 42`, `link set ${a.veth} master br0 up`]);
});

test('lease takes lowest free host address', (t) => {
  const network = newNetwork({ bridge: 'br0', subnet: '10.1.2.9/30', masquerade: false }, true);
  t.is(network.subnet, '10.1.2.8/30');
  t.is(network.gateway, '10.1.2.9');
  t.is(lease(network, 'a'), '10.1.2.10');
  t.throws(() => lease(network, 'b'), { message: 'lease an address on bridge br0: subnet 10.1.2.8/30 has no free address' });
  delete network.leases['a'];
  t.is(lease(network, 'b'), '10.1.2.10');
});

test('shaping uses veth root and ifb', (t) => {
  const { veth, ifb } = linkNames('c');
  t.deepEqual(shapingCommands('c', { ingress: { rate: 5_000_000, burst: 16384 }, egress: { rate: 10_000_000, burst: 32768 }, shaper: { algorithm: 'tbf' }, qosClasses: [] }), [
    `qdisc add dev ${veth} root tbf rate 5000000bit burst 16384 latency 50ms`,
    `qdisc add dev ${ifb} root tbf rate 10000000bit burst 32768 latency 50ms`,
    `qdisc add dev ${veth} handle ffff: ingress`,
    `filter add dev ${veth} parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
  ]);
});

test('the firewall ruleset puts own rules before security groups and counts the policy', (t) => {
  const ruleset = firewallRuleset({ policy: { ingress: 'drop' }, rules: [{ direction: 'ingress', action: 'accept', protocol: 'tcp', port: '8000-8080', cidr: '10.0.0.0/8' }, { direction: 'egress', action: 'reject', port: 53 }] }, { web: [{ direction: 'ingress', action: 'accept', protocol: 'tcp', port: 80 }] });
  t.true(ruleset.includes('type filter hook input priority filter; policy drop;'));
  t.true(ruleset.includes('ip saddr 10.0.0.0/8 meta l4proto tcp th dport 8000-8080 counter accept comment "rule 0"'));
  t.true(ruleset.includes('meta l4proto { tcp, udp } th dport 53 counter reject comment "rule 1"'));
  t.true(ruleset.includes('meta l4proto tcp th dport 80 counter accept comment "group web rule 0"'));
  const input = ruleset.slice(ruleset.indexOf('chain input'));
  t.true(input.indexOf('comment "rule 0"') < input.indexOf('jump sg-web-ingress'));
  t.true(input.indexOf('jump sg-web-ingress') < input.indexOf('counter comment "ingress policy"'));
});

test('interface statistics are read from /proc/net/dev', (t) => {
  const text = 'Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:   5000      40    1    2    0     0          0         0     7000      50    3    4    0     0       0          0\n';
  t.deepEqual(parseNetDev(text)['eth0'], { rxBytes: 5000, rxPackets: 40, rxErrors: 1, rxDropped: 2, txBytes: 7000, txPackets: 50, txErrors: 3, txDropped: 4 });
});

test('rule counters are taken from commented rules of nft -j output', (t) => {
  const listing = { nftables: [{ metainfo: {} }, { rule: { chain: 'input', comment: 'rule 0', expr: [{ match: {} }, { counter: { packets: 3, bytes: 180 } }, { accept: null }] } }, { rule: { chain: 'input', expr: [{ accept: null }] } }] };
  t.deepEqual(ruleCounters(listing), [{ chain: 'input', rule: 'rule 0', packets: 3, bytes: 180 }]);
});

test('lease stays inside the range and skips the gateway', (t) => {
  const network = newNetwork({ bridge: 'br0', subnet: '10.5.0.0/24', masquerade: false, gateway: '10.5.0.10', range: ['10.5.0.10', '10.5.0.11'] }, true);
  t.is(lease(network, 'a'), '10.5.0.11');
  t.throws(() => lease(network, 'b'), { message: 'lease an address on bridge br0: range 10.5.0.10-10.5.0.11 has no free address' });
});

test('overlay bridge gets a vxlan port that floods to every remote', (t) => {
  const network = newNetwork({ bridge: 'br0', subnet: '10.5.0.0/24', masquerade: false, vxlan: { id: 42, remotes: ['10.9.0.2', '10.9.0.3'] } }, true);
  const vxlan = vxlanName('br0');
  t.true(vxlan.length <= 15);
  t.deepEqual(bridgeCommands(network), ['link add br0 type bridge', 'addr add 10.5.0.1/24 dev br0', `link add ${vxlan} mtu 1450 type vxlan id 42 dstport 4789`, `link set ${vxlan} master br0 up`, 'link set br0 up']);
  t.deepEqual(floodCommands(network), [`fdb append 00:00:00:00:00:00 dev ${vxlan} dst 10.9.0.2`, `fdb append 00:00:00:00:00:00 dev ${vxlan} dst 10.9.0.3`]);
});

test('intrusion rules drop blocked sources first and count probes last', (t) => {
  const ruleset = firewallRuleset({ rules: [{ direction: 'ingress', action: 'accept', port: 80, protocol: 'tcp' }], intrusion: { synFloodRate: 100, portScanRate: 10, blockSeconds: 30 } }, {});
  t.true(ruleset.includes('set blocked { type ipv4_addr; flags dynamic, timeout; timeout 30s; }'));
  const input = ruleset.slice(ruleset.indexOf('chain input'), ruleset.indexOf('chain output'));
  const order = ['comment "intrusion block"', 'comment "syn flood"', 'comment "rule 0"', 'comment "port scan"', 'comment "ingress policy"'].map((text) => input.indexOf(text));
  t.true(order.every((position, i) => position >= 0 && (i === 0 || position > order[i - 1]!)), input);
  t.true(input.includes('update @syn-flood { ip saddr limit rate over 100/second burst 100 packets } add @blocked { ip saddr } counter drop'));
});

test('newBlocks reports first and renewed blocks', (t) => {
  const seen = new Map<string, number>();
  t.deepEqual(newBlocks(seen, [{ address: '10.0.0.2', expiresIn: 30 }], 0), [{ address: '10.0.0.2', expiresIn: 30 }]);
  // One second later nft reports 29 or, rounding the other way, 28 seconds left: the same block.
  t.deepEqual(newBlocks(seen, [{ address: '10.0.0.2', expiresIn: 28 }, { address: '10.0.0.3', expiresIn: 30 }], 1000), [{ address: '10.0.0.3', expiresIn: 30 }]);
  t.deepEqual(newBlocks(seen, [{ address: '10.0.0.3', expiresIn: 29 }], 2000), [], 'a block that expired is no event');
  t.deepEqual(newBlocks(seen, [{ address: '10.0.0.3', expiresIn: 30 }], 12_000), [{ address: '10.0.0.3', expiresIn: 30 }], 'the block ended and began again between readings');
  t.deepEqual(newBlocks(seen, [{ address: '10.0.0.2', expiresIn: 30 }], 13_000), [{ address: '10.0.0.2', expiresIn: 30 }], 'blocked again after it had expired');
});

test('intrusion detectors need an intrusion object', (t) => {
  t.true(hasIntrusionDetectors(spec({}, { 'bulkhead.network.firewall': JSON.stringify({ intrusion: { portScanRate: 5 } }) })));
  t.false(hasIntrusionDetectors(spec({}, { 'bulkhead.network.firewall': JSON.stringify({ policy: { ingress: 'drop' } }) })));
  t.false(hasIntrusionDetectors(spec({})));
});

const bridge = (extra: Record<string, string>) => spec({}, { 'bulkhead.network.mode': 'bridge', ...extra });
const classes = (value: unknown) => JSON.stringify(value);

const invalidQos: [string, Record<string, string>, string][] = [
  ['an unknown algorithm', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.shaper': '{"algorithm":"cbq"}' }, 'annotations["bulkhead.network.shaper"].algorithm: must be htb or tbf, got "cbq"'],
  ['a quantum for tbf', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.shaper': '{"algorithm":"tbf","quantum":1514}' }, 'annotations["bulkhead.network.shaper"].quantum: applies to algorithm htb only: tbf has no quantum'],
  ['a quantum out of range', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.shaper': '{"algorithm":"htb","quantum":10}' }, 'annotations["bulkhead.network.shaper"].quantum: must be an integer from 1000 to 200000, got 10'],
  ['a negative overhead', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.shaper': '{"overhead":-4}' }, 'annotations["bulkhead.network.shaper"].overhead: must be an integer from 0 to 1024, got -4'],
  ['shaper options without a rate', { 'bulkhead.network.shaper': '{"algorithm":"htb"}' }, 'annotations["bulkhead.network.shaper"]: needs bulkhead.network.egress-rate or bulkhead.network.ingress-rate'],
  ['classes that are not an array', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': '{}' }, 'annotations["bulkhead.network.qos-classes"]: must be a JSON array'],
  ['a class without its direction\'s rate', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', direction: 'ingress', rate: '1mbit', match: { dport: 80 } }]) }, 'annotations["bulkhead.network.qos-classes"][0].direction: a ingress class needs bulkhead.network.ingress-rate, the rate its classes share'],
  ['a class with a bad rate', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: 'fast', match: { dport: 80 } }]) }, 'annotations["bulkhead.network.qos-classes"][0].rate: must be a rate such as 10mbit or 500kbit, got "fast"'],
  ['a ceiling over the parent rate', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: '1mbit', ceil: '20mbit', match: { dport: 80 } }]) }, 'annotations["bulkhead.network.qos-classes"][0].ceil: must be from the class rate to the egress rate (1000000bit to 10000000bit), got 20000000bit'],
  ['a priority out of range', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: '1mbit', prio: 9, match: { dport: 80 } }]) }, 'annotations["bulkhead.network.qos-classes"][0].prio: must be an integer from 0 to 7, got 9'],
  ['a match of two kinds', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: '1mbit', match: { dport: 80, dscp: 46 } }]) }, 'annotations["bulkhead.network.qos-classes"][0].match: must be an object with one of dport, sport or dscp, such as {"dport":5201}'],
  ['a DSCP out of range', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: '1mbit', match: { dscp: 64 } }]) }, 'annotations["bulkhead.network.qos-classes"][0].match.dscp: must be an integer from 0 to 63, got 64'],
  ['classes with tbf', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.shaper': '{"algorithm":"tbf"}', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: '1mbit', match: { dport: 80 } }]) }, 'annotations["bulkhead.network.shaper"].algorithm: QoS classes need algorithm htb'],
  ['duplicate class names', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: '1mbit', match: { dport: 80 } }, { name: 'a', rate: '1mbit', match: { dport: 81 } }]) }, 'annotations["bulkhead.network.qos-classes"][1].name: duplicate class name "a"'],
  ['guarantees over the parent rate', { 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.qos-classes': classes([{ name: 'a', rate: '6mbit', match: { dport: 80 } }, { name: 'b', rate: '6mbit', match: { dport: 81 } }]) }, 'annotations["bulkhead.network.qos-classes"]: the egress classes\' rates add up to 12000000bit, more than the egress rate of 10000000bit'],
  ['an unknown offload feature', { 'bulkhead.network.offload': '{"lro":false}' }, 'annotations["bulkhead.network.offload"].lro: unknown feature; expected gro, tso or gso'],
  ['an offload switch that is not boolean', { 'bulkhead.network.offload': '{"gro":"off"}' }, 'annotations["bulkhead.network.offload"].gro: must be true or false, got "off"'],
];
for (const [name, annotations, message] of invalidQos) {
  test(`rejects ${name}`, (t) => {
    t.deepEqual(problems(bridge(annotations)), [message]);
  });
}

test('offload settings need bridge mode', (t) => {
  t.deepEqual(problems(spec({}, { 'bulkhead.network.offload': '{"gro":false}' })), ['annotations["bulkhead.network.mode"]: bridge, subnet, gateway, range, vxlan, masquerade, rate, shaper, QoS and offload settings need network mode bridge']);
});

test('QoS classes choose htb and read rates, ceilings, priorities and matches', (t) => {
  const config = readNetworkConfig(bridge({ 'bulkhead.network.egress-rate': '10mbit', 'bulkhead.network.shaper': '{"quantum":3000,"overhead":24}', 'bulkhead.network.qos-classes': classes([{ name: 'bulk', rate: '3mbit', match: { dport: 5202 } }, { name: 'voice', rate: '2mbit', ceil: '4mbit', prio: 1, match: { dscp: 46 } }]) }));
  t.deepEqual(config.shaper, { algorithm: 'htb', quantum: 3000, overhead: 24 });
  t.deepEqual(config.qosClasses, [
    { name: 'bulk', direction: 'egress', rate: 3e6, ceil: 10e6, prio: 0, match: { dport: 5202 } },
    { name: 'voice', direction: 'egress', rate: 2e6, ceil: 4e6, prio: 1, match: { dscp: 46 } },
  ]);
});

test('htb shaping puts QoS classes under the rate, with the rest in a default class', (t) => {
  const { veth, ifb } = linkNames('c');
  const qosClasses = [
    { name: 'web', direction: 'egress' as const, rate: 6e6, ceil: 10e6, prio: 0, match: { dport: 5201 } },
    { name: 'voice', direction: 'egress' as const, rate: 2e6, ceil: 4e6, prio: 1, match: { dscp: 46 } },
  ];
  t.deepEqual(shapingCommands('c', { egress: { rate: 10e6, burst: 32768 }, shaper: { algorithm: 'htb', quantum: 1514, overhead: 24 }, qosClasses }), [
    `qdisc add dev ${ifb} root handle 1: htb default 2`,
    `class add dev ${ifb} parent 1: classid 1:1 htb rate 10000000bit ceil 10000000bit burst 32768 cburst 32768 quantum 1514 overhead 24`,
    `class add dev ${ifb} parent 1:1 classid 1:2 htb rate 2000000bit ceil 10000000bit prio 7 quantum 1514 overhead 24`,
    `class add dev ${ifb} parent 1:1 classid 1:10 htb rate 6000000bit ceil 10000000bit prio 0 quantum 1514 overhead 24`,
    `filter add dev ${ifb} parent 1: protocol ip prio 1 u32 match u8 0x05 0x0f at 0 match ip protocol 6 0xff match ip dport 5201 0xffff flowid 1:10`,
    `filter add dev ${ifb} parent 1: protocol ip prio 1 u32 match u8 0x05 0x0f at 0 match ip protocol 17 0xff match ip dport 5201 0xffff flowid 1:10`,
    `class add dev ${ifb} parent 1:1 classid 1:11 htb rate 2000000bit ceil 4000000bit prio 1 quantum 1514 overhead 24`,
    `filter add dev ${ifb} parent 1: protocol ip prio 2 u32 match ip dsfield 0xb8 0xfc flowid 1:11`,
    `qdisc add dev ${veth} handle ffff: ingress`,
    `filter add dev ${veth} parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
  ]);
});

test('tbf takes the per-packet overhead', (t) => {
  const { veth } = linkNames('c');
  t.deepEqual(shapingCommands('c', { ingress: { rate: 1e6, burst: 16384 }, shaper: { algorithm: 'tbf', overhead: 24 }, qosClasses: [] }), [`qdisc add dev ${veth} root tbf rate 1000000bit burst 16384 latency 50ms overhead 24`]);
});

test('offload switches become ethtool -K arguments in a fixed order', (t) => {
  t.deepEqual(offloadArguments({ gso: true, gro: false }), ['gro', 'off', 'gso', 'on']);
  t.deepEqual(offloadArguments({}), []);
});
