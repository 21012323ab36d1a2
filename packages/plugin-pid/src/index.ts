import { planNamespace, type Plugin } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-pid';

export { readNSpid, containerPidOf, hostPidOf } from './translate.js';

export interface PidOptions {
  /**
   * Run a minimal init as PID 1 that forwards signals to the command and reaps orphaned
   * processes, as `docker run --init` does. Off by default: the command itself is PID 1.
   */
  init?: boolean;
}

/** The PID namespace: the container's command sees itself as PID 1 and only its own processes. */
export function pidPlugin(options: PidOptions = {}): Plugin {
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['pid'] },
    apply({ hooks }) {
      hooks.plan.tap((plan, { spec }) => {
        const mode = planNamespace(plan, PLUGIN_NAME, spec, 'pid');
        // The init forks as late as possible, so it runs with the container's identity and
        // privileges; seccomp, the start barrier and exec then run in its child.
        if (options.init === true && mode === 'new') plan.add(PLUGIN_NAME, 'privileges', { op: 'init' });
      });
    },
  };
}
