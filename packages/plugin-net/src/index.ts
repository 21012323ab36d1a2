import { dirname, join } from 'node:path';
import { planNamespace, SpecError, type Container, type Plugin, type Syscalls } from '@bulkhead/core';
import { checkRule, PLUGIN_NAME, readNetworkConfig, type FirewallRule, type NetworkConfig } from './config.js';
import { bridgeCommands, CONTAINER_LINK, offloadArguments, firewallRuleset, floodCommands, vxlanName, hostLinkCommands, linkNames, masqueradeRuleset, natTable, shapingCommands } from './commands.js';
import { cniAdd, cniDel, DEFAULT_CNI_PATH, type CniRecord } from './cni.js';
import { lease, newNetwork, readNetwork, withNetworkLock, writeNetwork } from './ipam.js';
import { hostTools, type NetTools } from './tools.js';

export { PLUGIN_NAME };

export interface NetPluginOptions {
  /** Named security groups: rule lists that several containers share by naming them. */
  securityGroups?: Record<string, FirewallRule[]>;
  /** The host tools; tests pass a recording fake. Default: ip, tc, nft and nsenter. */
  tools?: NetTools;
  /** Directories of CNI plugin binaries for mode cni. Default /usr/lib/cni, then /opt/cni/bin. */
  cniPath?: string[];
}

/** Record of what the plugin made for one container, persisted so that `delete` finds it after a crash. */
export interface NetRecord {
  mode: NetworkConfig['mode'];
  stateRoot: string;
  bridge?: string;
  address?: string;
  /** The subnet's prefix length and the bridge's address, the container's default gateway. */
  prefix?: number;
  gateway?: string;
  veth?: string;
  ifb?: string;
  firewall?: boolean;
  cni?: CniRecord;
}

/**
 * Creates the plugin of the network namespace. With a linux.namespaces entry of type network and no path, the
 * container gets a namespace of its own with its loopback device up (mode none), or, with the
 * annotation bulkhead.network.mode=bridge, also a veth pair to a bridge, an address leased from
 * the bridge's subnet and a default route. An entry with a path joins that namespace; no entry
 * leaves the container in the host's. Firewall rules and rate limits come from annotations too.
 */
export function netPlugin(options: NetPluginOptions = {}): Plugin {
  const tools = options.tools ?? hostTools;
  const groups = options.securityGroups ?? {};
  const cniPath = options.cniPath ?? DEFAULT_CNI_PATH;
  checkGroups(groups);
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['network'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => {
        const config = readNetworkConfig(validation.spec, (path, message) => validation.problem(path, message));
        config.securityGroups.forEach((name) => {
          if (!(name in groups)) validation.problem('annotations["bulkhead.network.security-groups"]', `no security group named ${JSON.stringify(name)} in this runtime; it has ${Object.keys(groups).join(', ') || 'none'}`);
        });
      });
      hooks.prepare.tapPromise(async (container) => {
        const config = readNetworkConfig(container.spec);
        Object.assign(container.record(PLUGIN_NAME), { mode: config.mode, stateRoot: dirname(container.stateDir) } satisfies NetRecord);
        if (config.mode === 'bridge') await joinBridge(tools, container, config);
      });
      hooks.plan.tap((plan, container) => {
        if (planNamespace(plan, PLUGIN_NAME, container.spec, 'network') !== 'new') return;
        plan.add(PLUGIN_NAME, 'host', { op: 'link-up', name: 'lo' });
        // The child configures eth0 itself after the attach barrier, by which time attach has
        // moved it in: this saves running ip inside its namespace.
        const record = netRecord(container);
        if (record.mode !== 'bridge' && readNetworkConfig(container.spec).mode !== 'bridge') return;
        const address = record.address === undefined ? {} : { address: { ip: record.address, prefix: record.prefix! }, gateway: record.gateway! };
        plan.add(PLUGIN_NAME, 'host', { op: 'link-up', name: CONTAINER_LINK, ...address });
      });
      hooks.attach.tapPromise(async (container) => {
        const config = readNetworkConfig(container.spec);
        if (config.mode === 'bridge') await connect(tools, container, config);
        if (config.mode === 'cni') await cniAdd(container, (netRecord(container).cni = { config: config.cniConfig!, netns: join(container.stateDir, 'netns') }), cniPath);
        if (config.firewall !== undefined || config.securityGroups.length > 0) {
          const selected = Object.fromEntries(config.securityGroups.map((name) => [name, groups[name]!]));
          netRecord(container).firewall = true;
          // Inside the container's namespace: the table goes with it, and needs no undo.
          await tools.nft(firewallRuleset(config.firewall, selected), { netns: container.pid! });
        }
      });
      // A container created by another process (bulkhead create) is released from its record.
      hooks.cleanup.tapPromise(async (container) => {
        const record = netRecord(container);
        if (record.cni !== undefined) await cniDel(container.id, container.syscalls, record.cni, cniPath);
        await release(tools, container.syscalls, record, container.id);
      });
    },
  };
}

function netRecord(container: Container): NetRecord {
  return container.record(PLUGIN_NAME) as unknown as NetRecord;
}

function checkGroups(groups: Record<string, FirewallRule[]>): void {
  const problems: { path: string; message: string }[] = [];
  for (const [name, rules] of Object.entries(groups)) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) problems.push({ path: `securityGroups.${name}`, message: 'a group name is 1 to 32 letters, digits, "_" or "-"' });
    if (!Array.isArray(rules)) problems.push({ path: `securityGroups.${name}`, message: 'must be an array of rules' });
    else rules.forEach((rule, i) => checkRule(rule, `securityGroups.${name}[${i}]`, (path, message) => problems.push({ path, message })));
  }
  if (problems.length > 0) throw new Error(`${PLUGIN_NAME}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
}

/**
 * Leases the container an address on its bridge, creating the bridge (and its masquerade
 * table) on first use. The lease is recorded and saved before the network file is written, so
 * a create killed in between still releases it on delete.
 */
async function joinBridge(tools: NetTools, container: Container, config: NetworkConfig): Promise<void> {
  const record = netRecord(container);
  await withNetworkLock(container.syscalls, record.stateRoot, async () => {
    const network = readNetwork(record.stateRoot, config.bridge) ?? newNetwork(config, !tools.linkExists(config.bridge));
    const requested = newNetwork(config, false);
    if (network.subnet !== requested.subnet) throw new SpecError([{ path: 'annotations["bulkhead.network.subnet"]', message: `bridge ${config.bridge} has subnet ${network.subnet}, not ${requested.subnet}: leave the subnet out or give the bridge's` }]);
    const address = lease(network, container.id);
    Object.assign(record, { bridge: config.bridge, address, prefix: Number(network.subnet.split('/')[1]), gateway: network.gateway });
    await container.saveState();
    container.undo.defer(`release address ${address} on bridge ${config.bridge}`, () => release(tools, container.syscalls, record, container.id));
    writeNetwork(record.stateRoot, network);
    if (network.ownsBridge && !tools.linkExists(config.bridge)) {
      await tools.ip(bridgeCommands(network));
      if (network.vxlan !== undefined) await tools.bridge(floodCommands(network));
      if (network.masquerade) await tools.nft(masqueradeRuleset(network));
      container.log.debug({ bridge: config.bridge, subnet: network.subnet }, 'created bridge');
    }
  });
}

/**
 * Connects the waiting child to its bridge: the veth pair (and the ifb device for egress
 * shaping) on the host, then the shapers. The child's LINK_UP step gives eth0 its address and route.
 */
async function connect(tools: NetTools, container: Container, config: NetworkConfig): Promise<void> {
  const record = netRecord(container);
  const names = linkNames(container.id);
  const shaped = config.egress !== undefined;
  Object.assign(record, { veth: names.veth, ...(shaped ? { ifb: names.ifb } : {}) });
  await container.saveState();
  container.undo.defer(`delete ${shaped ? `links ${names.veth} and ${names.ifb}` : `link ${names.veth}`}`, () => deleteLinks(tools, record));
  await tools.ip(hostLinkCommands(container.id, container.pid!, config.bridge, shaped, tools.mtu(config.bridge)));
  const shaping = shapingCommands(container.id, config);
  if (shaping.length > 0) await tools.tc(shaping);
  await setOffload(tools, container, config);
  container.log.debug({ veth: names.veth, address: record.address, bridge: config.bridge }, 'connected container to bridge');
}

/**
 * Sets the offload switches on both ends of the veth pair: the host end here, eth0 inside the
 * child's namespace. They go with the links, so they need no undo.
 */
async function setOffload(tools: NetTools, container: Container, config: NetworkConfig): Promise<void> {
  const features = config.offload === undefined ? [] : offloadArguments(config.offload);
  if (features.length === 0) return;
  const { veth } = linkNames(container.id);
  await Promise.all([tools.ethtool(veth, features), tools.ethtool(CONTAINER_LINK, features, { netns: container.pid! })]);
  container.log.debug({ veth, features: features.join(' ') }, 'set offload features');
}

/** Deletes the host-side links that still exist; the kernel removes their qdiscs with them. */
async function deleteLinks(tools: NetTools, record: NetRecord): Promise<void> {
  const present = [record.veth, record.ifb].filter((name): name is string => name !== undefined && tools.linkExists(name));
  if (present.length === 0) return;
  // The veth also vanishes when the container's namespace is destroyed, which may happen meanwhile.
  await tools.ip(present.map((name) => `link del ${name}`), { force: true });
  const left = present.filter((name) => tools.linkExists(name));
  if (left.length > 0) throw new Error(`delete links ${left.join(', ')}: they still exist`);
}

/**
 * Releases everything the record names: links, then the address lease, then the bridge and
 * its masquerade table when the lease was the bridge's last. Safe to run more than once.
 */
async function release(tools: NetTools, syscalls: Syscalls, record: NetRecord, id: string): Promise<void> {
  if (record.mode !== 'bridge') return;
  await deleteLinks(tools, record);
  if (record.bridge === undefined) return;
  const bridge = record.bridge;
  await withNetworkLock(syscalls, record.stateRoot, async () => {
    const network = readNetwork(record.stateRoot, bridge);
    if (network === undefined || !(id in network.leases)) return;
    delete network.leases[id];
    writeNetwork(record.stateRoot, network);
    if (Object.keys(network.leases).length > 0 || !network.ownsBridge) return;
    if (network.masquerade) await tools.nft(`delete table ip ${natTable(bridge)}\n`, { force: true });
    const vxlan = vxlanName(bridge);
    const links = [...(network.vxlan !== undefined && tools.linkExists(vxlan) ? [vxlan] : []), ...(tools.linkExists(bridge) ? [bridge] : [])];
    if (links.length > 0) await tools.ip(links.map((name) => `link del ${name}`));
  });
}

export { ANNOTATIONS, DEFAULT_BRIDGE, DEFAULT_SUBNET, parseRate, parseSize, readNetworkConfig, type Firewall, type FirewallRule, type Intrusion, type NetworkConfig, type Offload, type QosClass, type QosMatch, type Shaper, type ShaperOptions } from './config.js';
export { linkNames, qosClassId, FIREWALL_TABLE } from './commands.js';
export { cniCheck, readCniConfig, DEFAULT_CNI_PATH, type CniConfList, type CniRecord } from './cni.js';
export { networkStats, type NetworkStats, type InterfaceStats, type RuleCounter } from './stats.js';
export { intrusionSignals, type IntrusionSignals } from './intrusion.js';
export { hasIntrusionDetectors, INTRUSION_ACTION, INTRUSION_FIELD, IntrusionWatcher, newBlocks, watchIntrusions, type IntrusionEvent, type IntrusionWatchOptions } from './watch.js';
export { hostTools, type NetTools } from './tools.js';
