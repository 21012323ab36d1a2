import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { linkNames } from '@bulkhead/plugin-net';
import { specFromFlags } from '../src/commands/run.js';
import { parseContainerFlags } from '../src/flags.js';
import { bulkhead, fixtures, rootTest, RUNNING_SECONDS, stateRoot, temporaryDir, uniqueId } from './helpers.js';

// Addresses only inside this file's own bridge and subnet; nothing is sent outside them.
// Each test has its own bridge and subnet, because ava runs them concurrently.
const BRIDGE = `bhc${process.pid}`.slice(0, 14);
const SUBNET_OCTET = 20 + ((process.pid + 100) % 200);
const SUBNET = `10.214.${SUBNET_OCTET}.0/24`;
const OCI_BRIDGE = `${BRIDGE}o`;
const OCI_SUBNET = `10.215.${SUBNET_OCTET}.0/24`;

const specOf = (argv: string[]) => specFromFlags(parseContainerFlags([...argv, 'true']));

test('run gives the container a network namespace of its own by default', (t) => {
  t.true(specOf([]).linux!.namespaces!.some((ns) => ns.type === 'network' && ns.path === undefined));
  t.false(specOf(['--network', 'host']).linux!.namespaces!.some((ns) => ns.type === 'network'));
  t.deepEqual(specOf(['--network', 'ns:/run/netns/x']).linux!.namespaces!.find((ns) => ns.type === 'network'), { type: 'network', path: '/run/netns/x' });
});

test('cni mode names the config by absolute path', (t) => {
  t.like(specOf(['--network', 'cni:/etc/cni/net.d/x.conflist']).annotations, { 'bulkhead.network.mode': 'cni', 'bulkhead.network.cni-config': '/etc/cni/net.d/x.conflist' });
});

test('overlay flags become the network plugin annotations', (t) => {
  const spec = specOf(['--network', 'bridge', '--gateway', '10.9.0.254', '--ip-range', '10.9.0.100-10.9.0.199', '--vxlan', '42:192.0.2.7,192.0.2.8']);
  t.like(spec.annotations, { 'bulkhead.network.gateway': '10.9.0.254', 'bulkhead.network.range': '10.9.0.100-10.9.0.199', 'bulkhead.network.vxlan-id': '42', 'bulkhead.network.vxlan-remotes': '192.0.2.7,192.0.2.8' });
});

test('bridge flags become the network plugin annotations', (t) => {
  const spec = specOf(['--network', 'bridge:br7', '--subnet', '10.9.0.0/24', '--masquerade', '--egress-rate', '10mbit', '--ingress-rate', '5mbit', '--ingress-burst', '64kb', '--firewall', '{"policy":{"ingress":"drop"}}']);
  t.deepEqual(spec.annotations, {
    'bulkhead.network.mode': 'bridge',
    'bulkhead.network.bridge': 'br7',
    'bulkhead.network.subnet': '10.9.0.0/24',
    'bulkhead.network.masquerade': 'true',
    'bulkhead.network.egress-rate': '10mbit',
    'bulkhead.network.ingress-rate': '5mbit',
    'bulkhead.network.ingress-burst': '64kb',
    'bulkhead.network.firewall': '{"policy":{"ingress":"drop"}}',
  });
});

test('shaper, QoS class and offload flags become JSON annotations', (t) => {
  const spec = specOf(['--network', 'bridge', '--egress-rate', '10mbit', '--ingress-rate', '5mbit', '--shaper', 'htb,quantum=1514,overhead=24', '--qos-class', 'web:4mbit:8mbit:1,match=dport:5201', '--qos-class', 'voice:1mbit:2,match=dscp:46', '--qos-class', 'down:2mbit,match=sport:5201,direction=ingress', '--offload', 'gro=on,tso=off']);
  t.deepEqual(JSON.parse(spec.annotations!['bulkhead.network.shaper']!), { algorithm: 'htb', quantum: 1514, overhead: 24 });
  t.deepEqual(JSON.parse(spec.annotations!['bulkhead.network.qos-classes']!), [
    { name: 'web', rate: '4mbit', ceil: '8mbit', prio: 1, match: { dport: 5201 } },
    { name: 'voice', rate: '1mbit', prio: 2, match: { dscp: 46 } },
    { name: 'down', rate: '2mbit', match: { sport: 5201 }, direction: 'ingress' },
  ]);
  t.deepEqual(JSON.parse(spec.annotations!['bulkhead.network.offload']!), { gro: true, tso: false });
});

const usage: [string[], string][] = [
  [['--network', 'overlay'], 'flag --network: expected none, host, bridge, bridge:NAME, cni:CONFIG or ns:PATH, got "overlay"'],
  [['--network', 'cni:/etc/cni/net.d/x.conflist', '--subnet', '10.0.0.0/24'], 'flag --network cni: the CNI config sets addresses and rates; only --firewall applies'],
  [['--egress-rate', '1mbit'], 'flags --subnet, --gateway, --ip-range, --vxlan, --masquerade, the rates, --shaper, --qos-class and --offload need --network bridge'],
  [['--offload', 'gro=off'], 'flags --subnet, --gateway, --ip-range, --vxlan, --masquerade, the rates, --shaper, --qos-class and --offload need --network bridge'],
  [['--network', 'bridge', '--egress-rate', '1mbit', '--qos-class', 'web:500kbit'], 'flag --qos-class: missing match=dport:PORT|sport:PORT|dscp:VALUE in "web:500kbit"'],
  [['--network', 'bridge', '--egress-rate', '1mbit', '--qos-class', 'web:500kbit,match=port:80'], 'flag --qos-class: expected NAME:RATE[:CEIL][:PRIO],match=dport:PORT|sport:PORT|dscp:VALUE[,direction=egress|ingress], got "web:500kbit,match=port:80"'],
  [['--network', 'bridge', '--egress-rate', '1mbit', '--qos-class', 'web:500kbit,match=dscp:ef'], 'flag --qos-class: expected an integer, got "ef" in "web:500kbit,match=dscp:ef"'],
  [['--network', 'bridge', '--egress-rate', '1mbit', '--shaper', 'htb,r2q=10'], 'flag --shaper: expected htb|tbf[,quantum=BYTES][,overhead=BYTES], got "htb,r2q=10"'],
  [['--network', 'bridge', '--offload', 'gro=no'], 'flag --offload: expected gro|tso|gso=on|off separated by commas, got "gro=no"'],
  [['--network', 'host', '--firewall', '{}'], 'flag --network host: bridge settings, rates and firewalls need --network none or bridge'],
  [['--network', 'bridge', '--vxlan', '42'], 'flag --vxlan: expected VNI:REMOTE[,REMOTE...], got "42"'],
];
for (const [argv, message] of usage) {
  test(`run ${argv.join(' ')} is a usage error`, (t) => {
    t.throws(() => specOf(argv), { message });
  });
}

/** Interface names in /proc/net/dev output. */
const interfaces = (netDev: string) => netDev.split('\n').slice(2).map((line) => line.split(':')[0]!.trim()).filter((name) => name !== '');

rootTest('run --network none shows the container only its loopback device', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, '--', 'cat', '/proc/net/dev']);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(interfaces(result.stdout), ['lo']);
});

rootTest('run --network bridge with QoS classes and offload switches gives an address and a default route, and leaves nothing behind', async (t) => {
  const { busybox } = await fixtures();
  const root = stateRoot();
  const id = uniqueId('netrun');
  const result = await bulkhead(['--root', root, 'run', '--id', id, '--rootfs', busybox, '--network', `bridge:${BRIDGE}`, '--subnet', SUBNET, '--egress-rate', '10mbit', '--qos-class', 'web:5mbit:1,match=dport:5201', '--offload', 'gro=on,tso=off', '--', 'sh', '-c', 'cat /proc/net/dev; echo; cat /proc/net/route']);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(interfaces(result.stdout.split('\n\n')[0]!).sort(), ['eth0', 'lo']);
  // The default route's gateway, little-endian hex: 10.214.N.1.
  const gateway = [1, SUBNET_OCTET, 214, 10].map((n) => n.toString(16).padStart(2, '0')).join('').toUpperCase();
  t.regex(result.stdout, new RegExp(`eth0\\s+00000000\\s+${gateway}`));
  for (const name of [...Object.values(linkNames(id)), BRIDGE]) t.false(existsSync(`/sys/class/net/${name}`), name);
  t.deepEqual(readdirSync(join(root, '.network')).filter((name) => name.endsWith('.json')), []);
});

rootTest('run with a bad QoS class rate fails with one line naming its JSON path, and makes nothing', async (t) => {
  const { busybox } = await fixtures();
  const root = stateRoot();
  const id = uniqueId('netbad');
  const bridge = `${BRIDGE}q`;
  const result = await bulkhead(['--root', root, 'run', '--id', id, '--rootfs', busybox, '--network', `bridge:${bridge}`, '--subnet', SUBNET, '--egress-rate', '10mbit', '--qos-class', 'web:fast,match=dport:5201', '--', 'true']);
  t.not(result.code, 0);
  t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  t.regex(result.stderr, /annotations\["bulkhead\.network\.qos-classes"\]\[0\]\.rate: must be a rate such as 10mbit or 500kbit, got "fast"/);
  for (const name of [...Object.values(linkNames(id)), bridge]) t.false(existsSync(`/sys/class/net/${name}`), name);
});

rootTest('an OCI bundle asks for a bridge through annotations; net-stats and events --stats read its counters; delete --force cleans up', async (t) => {
  const { busybox } = await fixtures();
  const root = stateRoot();
  const dir = temporaryDir('bulkhead-bundle-');
  cpSync(busybox, join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { process: { args: string[] }; annotations?: Record<string, string> };
  config.process.args = ['sleep', RUNNING_SECONDS];
  config.annotations = { 'bulkhead.network.mode': 'bridge', 'bulkhead.network.bridge': OCI_BRIDGE, 'bulkhead.network.subnet': OCI_SUBNET, 'bulkhead.network.firewall': JSON.stringify({ policy: { ingress: 'drop' } }) };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const id = uniqueId('netoci');
  t.is((await bulkhead(['--root', root, 'create', '--bundle', dir, id])).code, 0);
  await bulkhead(['--root', root, 'start', id]);
  const stats = await bulkhead(['--root', root, 'net-stats', '--json', id]);
  t.is(stats.code, 0, stats.stderr);
  const parsed = JSON.parse(stats.stdout) as { interfaces: Record<string, { rxPackets: number }>; rules: { rule: string }[] };
  t.deepEqual(Object.keys(parsed.interfaces).sort(), ['eth0', 'lo']);
  t.true(parsed.rules.some((rule) => rule.rule === 'ingress policy'));
  const events = await bulkhead(['--root', root, 'events', '--stats', id]);
  t.is(events.code, 0, events.stderr);
  const data = (JSON.parse(events.stdout) as { data: { network_interfaces: { name: string }[]; firewall_rules: { rule: string }[] } }).data;
  t.deepEqual(data.network_interfaces.map((entry) => entry.name).sort(), ['eth0', 'lo']);
  t.true(data.firewall_rules.some((rule) => rule.rule === 'ingress policy'));
  const table = await bulkhead(['--root', root, 'net-stats', id]);
  t.regex(table.stdout, /^INTERFACE +RX BYTES/);
  t.is((await bulkhead(['--root', root, 'delete', '--force', id])).code, 0);
  for (const name of [...Object.values(linkNames(id)), OCI_BRIDGE]) t.false(existsSync(`/sys/class/net/${name}`), name);
  t.deepEqual(readdirSync(join(root, '.network')).filter((name) => name.endsWith('.json')), []);
});
