import { readFileSync } from 'node:fs';
import { FIREWALL_TABLE } from './commands.js';
import { hostTools, type NetTools } from './tools.js';

export interface InterfaceStats {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** One firewall rule's counters, named by the rule's comment ("rule 0", "group web rule 1", "ingress policy"). */
export interface RuleCounter {
  chain: string;
  rule: string;
  packets: number;
  bytes: number;
}

export interface NetworkStats {
  /** Every interface of the container's network namespace, from the container's point of view. */
  interfaces: Record<string, InterfaceStats>;
  /** Counters of the container's firewall; empty without one. */
  rules: RuleCounter[];
}

/**
 * Reads the statistics of the network namespace of a container's process (its host pid):
 * /proc/PID/net/dev for the interfaces, and `nft -j list table` inside the namespace for the
 * firewall's counters.
 */
export async function networkStats(pid: number, options: { tools?: NetTools; firewall?: boolean } = {}): Promise<NetworkStats> {
  const interfaces = parseNetDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8'));
  if (options.firewall === false) return { interfaces, rules: [] };
  const tools = options.tools ?? hostTools;
  let listing: unknown;
  try {
    listing = await tools.nftJson(['list', 'table', 'inet', FIREWALL_TABLE], { netns: pid });
  } catch {
    return { interfaces, rules: [] }; // No firewall in this namespace.
  }
  return { interfaces, rules: ruleCounters(listing) };
}

/** Parses /proc/net/dev: two header lines, then "name: 8 receive fields 8 transmit fields". */
export function parseNetDev(text: string): Record<string, InterfaceStats> {
  const result: Record<string, InterfaceStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    result[line.slice(0, colon).trim()] = { rxBytes: f[0]!, rxPackets: f[1]!, rxErrors: f[2]!, rxDropped: f[3]!, txBytes: f[8]!, txPackets: f[9]!, txErrors: f[10]!, txDropped: f[11]! };
  }
  return result;
}

interface NftRule {
  rule?: { chain: string; comment?: string; expr?: { counter?: { packets: number; bytes: number } }[] };
}

/** Picks every commented rule with a counter out of `nft -j` output. */
export function ruleCounters(listing: unknown): RuleCounter[] {
  const items = ((listing as { nftables?: NftRule[] }).nftables ?? []).filter((item) => item.rule?.comment !== undefined);
  return items.flatMap(({ rule }) => {
    const counter = rule!.expr?.find((e) => e.counter !== undefined)?.counter;
    return counter === undefined ? [] : [{ chain: rule!.chain, rule: rule!.comment!, packets: counter.packets, bytes: counter.bytes }];
  });
}
