import { ContainerStateError, ErrorCode, findNamespace, type Container } from '@bulkhead/core';
import { intrusionSignals, networkStats } from '@bulkhead/plugin-net';
import { parseCommand } from '../args.js';
import { createRuntime } from '../compose.js';
import type { GlobalFlags } from '../main.js';

/**
 * Returns a container's network counters in the form runc's events --stats uses
 * (`network_interfaces`), plus `firewall_rules`. A container in the host's network namespace
 * has none of its own, so it gets nothing.
 */
export async function runcNetworkStats(container: Container): Promise<Record<string, unknown>> {
  const entry = findNamespace(container.spec, 'network');
  if (entry === undefined || container.pid === undefined) return {};
  const stats = await networkStats(container.pid);
  const interfaces = Object.entries(stats.interfaces).map(([name, s]) => ({
    name,
    rx_bytes: s.rxBytes,
    rx_packets: s.rxPackets,
    rx_errors: s.rxErrors,
    rx_dropped: s.rxDropped,
    tx_bytes: s.txBytes,
    tx_packets: s.txPackets,
    tx_errors: s.txErrors,
    tx_dropped: s.txDropped,
  }));
  return { network_interfaces: interfaces, firewall_rules: stats.rules };
}

/** `bulkhead net-stats`: counters of every interface in the container's network namespace, and of its firewall rules. */
export async function netStatsCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('net-stats', argv, { json: { type: 'boolean' } }, { min: 1, max: 1, names: 'ID' });
  const id = positionals[0]!;
  const state = createRuntime(globals.runtime).state(id);
  if (state.pid === undefined) throw new ContainerStateError(ErrorCode.INVALID_STATE, `net-stats of container ${id}: it is ${state.status}`);
  const stats = await networkStats(state.pid);
  const intrusion = stats.rules.some((rule) => rule.rule === 'intrusion block') ? await intrusionSignals(state.pid) : undefined;
  if (values.json === true) {
    process.stdout.write(JSON.stringify(intrusion === undefined ? stats : { ...stats, intrusion }) + '\n');
    return 0;
  }
  const headers = ['RX BYTES', 'RX PACKETS', 'RX ERRORS', 'RX DROPPED', 'TX BYTES', 'TX PACKETS', 'TX ERRORS', 'TX DROPPED'];
  const lines = [['INTERFACE  ', ...headers].join('  ')];
  for (const [name, s] of Object.entries(stats.interfaces)) {
    const values = [s.rxBytes, s.rxPackets, s.rxErrors, s.rxDropped, s.txBytes, s.txPackets, s.txErrors, s.txDropped];
    lines.push([name.padEnd(11), ...values.map((value, i) => String(value).padStart(headers[i]!.length))].join('  '));
  }
  if (stats.rules.length > 0) lines.push('', 'CHAIN       PACKETS     BYTES  RULE', ...stats.rules.map((r) => `${r.chain.padEnd(10)}  ${String(r.packets).padStart(7)}  ${String(r.bytes).padStart(8)}  ${r.rule}`));
  if (intrusion !== undefined) {
    lines.push('', `intrusion: ${intrusion.synFlood} syn flood and ${intrusion.portScan} port scan packets over their rates, ${intrusion.droppedFromBlocked} dropped from blocked sources`);
    for (const entry of intrusion.blocked) lines.push(`blocked ${entry.address} for ${entry.expiresIn} s more`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
