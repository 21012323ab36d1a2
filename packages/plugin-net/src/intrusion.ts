import { FIREWALL_TABLE } from './commands.js';
import { ruleCounters } from './stats.js';
import { hostTools, type NetTools } from './tools.js';

/** Counters and blocked sources of the intrusion detectors of a container's firewall. */
export interface IntrusionSignals {
  /** Sources currently blocked, with the seconds left until their block expires (nft reports whole seconds). */
  blocked: { address: string; expiresIn: number }[];
  /** Packets that each detector matched: a source over its rate at that moment. */
  synFlood: number;
  portScan: number;
  /** Packets dropped because their source was blocked. */
  droppedFromBlocked: number;
}

/**
 * Reads the detectors' counters and the blocked set from the firewall inside the namespace of
 * the container process `pid`. Detection is rate-based per source address only: a scan slower
 * than the rate, or spread over many sources, goes unnoticed, and a spoofed source address gets
 * an innocent address blocked.
 */
export async function intrusionSignals(pid: number, options: { tools?: NetTools } = {}): Promise<IntrusionSignals> {
  const tools = options.tools ?? hostTools;
  const listing = (await tools.nftJson(['list', 'table', 'inet', FIREWALL_TABLE], { netns: pid })) as { nftables?: { set?: { name: string; elem?: unknown[] } }[] };
  const counter = (rule: string) => ruleCounters(listing).find((entry) => entry.rule === rule)?.packets ?? 0;
  const blockedSet = (listing.nftables ?? []).find((item) => item.set?.name === 'blocked')?.set;
  const blocked = (blockedSet?.elem ?? []).map((element) => {
    const entry = element as string | { elem: { val: string; expires?: number } };
    return typeof entry === 'string' ? { address: entry, expiresIn: 0 } : { address: entry.elem.val, expiresIn: entry.elem.expires ?? 0 };
  });
  return { blocked, synFlood: counter('syn flood'), portScan: counter('port scan'), droppedFromBlocked: counter('intrusion block') };
}
