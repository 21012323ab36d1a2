import { ContainerStateError, ErrorCode } from '@bulkhead/core';
import { intrusionSignals, networkStats } from '@bulkhead/plugin-net';
import { parseCommand } from '../args.js';
import { createRuntime } from '../compose.js';
import type { GlobalFlags } from '../main.js';

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
