import { DEFAULT_STATE_ROOT, defaultStateRoot, formatSteps } from '@bulkhead/core';
import { createRuntime } from '../compose.js';
import { parseContainerFlags } from '../flags.js';
import type { GlobalFlags } from '../main.js';
import { specFromFlags } from './run.js';

/** `bulkhead plan`: prints the child program of a container built from the flags, without running it. */
export async function planCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const flags = parseContainerFlags(argv);
  const runtime = createRuntime({ ...globals.runtime, stateRoot: globals.runtime.stateRoot ?? planStateRoot(), init: flags.init });
  const plan = runtime.describe(specFromFlags(flags), { dieWithParent: true, ...(flags.id === undefined ? {} : { id: flags.id }) });
  if (flags.json) {
    process.stdout.write(JSON.stringify({ namespaces: plan.namespaces, timeOffsets: plan.timeOffsets, steps: plan.steps() }, null, 2) + '\n');
  } else {
    const namespaces = plan.namespaces.map((ns) => (ns.path === undefined ? `${ns.type} (new)` : `${ns.type} (join ${ns.path})`)).join(', ');
    const offsets = plan.timeOffsets.map((offset) => `${offset.clock} ${offset.secs}s ${offset.nanosecs}ns`).join(', ');
    const offsetLine = offsets === '' ? '' : `time offsets: ${offsets}\n`;
    process.stdout.write(`namespaces: ${namespaces || 'none'}\n${offsetLine}${formatSteps(plan.steps())}\n`);
  }
  return 0;
}

/** Returns the state root that paths in the plan name. A plan writes no state, so a user without XDG_RUNTIME_DIR still gets one. */
function planStateRoot(): string {
  try {
    return defaultStateRoot();
  } catch {
    return DEFAULT_STATE_ROOT;
  }
}
