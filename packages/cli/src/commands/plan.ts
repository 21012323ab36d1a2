import { formatSteps } from '@bulkhead/core';
import { createRuntime } from '../compose.js';
import { parseContainerFlags } from '../flags.js';
import { mountOptionsFromFlags } from '../mount-flags.js';
import type { GlobalFlags } from '../main.js';
import { specFromFlags } from './run.js';

/** `bulkhead plan`: prints the child program of a container built from the flags, without running it. */
export async function planCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const flags = parseContainerFlags(argv);
  const runtime = createRuntime({ ...globals.runtime, init: flags.init, mount: mountOptionsFromFlags(flags, globals.runtime.mount) });
  const plan = runtime.describe(specFromFlags(flags), { dieWithParent: true, ...(flags.id === undefined ? {} : { id: flags.id }) });
  if (flags.json) {
    process.stdout.write(JSON.stringify({ namespaces: plan.namespaces, steps: plan.steps() }, null, 2) + '\n');
  } else {
    const namespaces = plan.namespaces.map((ns) => (ns.path === undefined ? `${ns.type} (new)` : `${ns.type} (join ${ns.path})`)).join(', ');
    process.stdout.write(`namespaces: ${namespaces || 'none'}\n${formatSteps(plan.steps())}\n`);
  }
  return 0;
}
