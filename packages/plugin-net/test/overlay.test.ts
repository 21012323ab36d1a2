import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

// Two "hosts" are network namespaces this test creates, joined by a veth pair (the underlay).
// Each runs its own bulkhead with a bridge of the same subnet and a vxlan port to the other.
// Every address used is inside these namespaces.
const rootTest = process.getuid?.() === 0 ? test.serial : test.serial.skip;
if (process.getuid?.() !== 0) test('overlay tests are skipped: they need root', (t) => t.pass());

const HOST_SCRIPT = fileURLToPath(new URL('./overlay-host.js', import.meta.url));
const OCTET = 20 + (process.pid % 200);
const HOSTS = [
  { netns: `bhovA-${process.pid}`, underlay: `10.216.${OCTET}.1`, gateway: `10.217.${OCTET}.1`, range: `10.217.${OCTET}.10-10.217.${OCTET}.99` },
  { netns: `bhovB-${process.pid}`, underlay: `10.216.${OCTET}.2`, gateway: `10.217.${OCTET}.254`, range: `10.217.${OCTET}.100-10.217.${OCTET}.199` },
] as const;

const ip = (...args: string[]) => execFileSync('/usr/sbin/ip', args, { encoding: 'utf8' });

function createHosts(): void {
  for (const host of HOSTS) ip('netns', 'add', host.netns);
  ip('link', 'add', 'bhund0', 'netns', HOSTS[0].netns, 'type', 'veth', 'peer', 'name', 'bhund0', 'netns', HOSTS[1].netns);
  for (const host of HOSTS) {
    ip('-n', host.netns, 'addr', 'add', `${host.underlay}/24`, 'dev', 'bhund0');
    ip('-n', host.netns, 'link', 'set', 'bhund0', 'up');
    ip('-n', host.netns, 'link', 'set', 'lo', 'up');
  }
}

function annotations(index: 0 | 1): string {
  const host = HOSTS[index];
  const other = HOSTS[1 - index]!;
  return JSON.stringify({
    'bulkhead.network.mode': 'bridge',
    'bulkhead.network.bridge': 'bhov0',
    'bulkhead.network.subnet': `10.217.${OCTET}.0/24`,
    'bulkhead.network.gateway': host.gateway,
    'bulkhead.network.range': host.range,
    'bulkhead.network.vxlan-id': '4242',
    'bulkhead.network.vxlan-remotes': other.underlay,
  });
}

/** Starts a container on a host; resolves once it runs, with its output so far and its exit. */
function startOn(index: 0 | 1, stateRoot: string, command: string[]) {
  const child = spawn('/usr/sbin/ip', ['netns', 'exec', HOSTS[index].netns, process.execPath, HOST_SCRIPT, stateRoot, annotations(index), ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => output.includes('started\n') && resolve());
    void exited.then(() => reject(new Error(`container exited before it started: ${output}`)));
  });
  return { child, started, exited, output: () => output };
}

rootTest('containers on two hosts reach each other over the vxlan overlay, and nothing is left', async (t) => {
  createHosts();
  const roots = HOSTS.map(() => mkdtempSync(join(tmpdir(), 'bulkhead-state-')));
  const children: ReturnType<typeof startOn>[] = [];
  t.teardown(() => {
    // The containers die with their runtime's process (dieWithParent), should a check have failed early.
    for (const { child } of children) child.kill('SIGKILL');
    for (const host of HOSTS) ip('netns', 'del', host.netns);
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  // Host A: a server, and a client on the same bridge.
  const server = startOn(0, roots[0]!, [process.execPath, '-e', "require('net').createServer((s) => s.on('error', () => {}).end('hello over the overlay\\n')).listen(8080)"]);
  children.push(server);
  await server.started;
  const serverAddress = `10.217.${OCTET}.10`;
  const reach = `for i in $(seq 50); do timeout 1 bash -c 'exec 3<>/dev/tcp/${serverAddress}/8080; cat <&3' && exit 0; sleep 0.1; done; exit 1`;
  const local = startOn(0, roots[0]!, ['bash', '-c', reach]);
  t.is(await local.exited, 0, local.output());
  t.regex(local.output(), /hello over the overlay/);

  // Host B: a client whose address comes from the other half of the subnet.
  const remote = startOn(1, roots[1]!, ['bash', '-c', `ip -o -4 addr show eth0; ip -o link show eth0; ${reach}`]);
  t.is(await remote.exited, 0, remote.output());
  t.regex(remote.output(), new RegExp(`inet 10\\.217\\.${OCTET}\\.100/24`));
  t.regex(remote.output(), /mtu 1450/, 'the veth takes the overlay bridge MTU');
  t.regex(remote.output(), /hello over the overlay/);

  server.child.kill('SIGTERM');
  await server.exited;
  for (const host of HOSTS) t.is(ip('-n', host.netns, '-br', 'link').trim().split('\n').filter((line) => line.startsWith('bh') && !line.startsWith('bhund0')).join(', '), '', `links left on ${host.netns}`);
});
