import { findNamespace, planNamespace, type Plugin } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-ipc';

/**
 * The IPC namespace: System V IPC objects and POSIX message queues of the container's own. An
 * mqueue mount without a new IPC namespace would show the host's queues, so validation rejects it.
 */
export function ipcPlugin(): Plugin {
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['ipc'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => {
        const ns = findNamespace(validation.spec, 'ipc');
        const index = (validation.spec.mounts ?? []).findIndex((m) => m.type === 'mqueue');
        if (index >= 0 && (ns === undefined || ns.path !== undefined)) validation.problem(`mounts[${index}].type`, 'an mqueue mount needs a new ipc namespace in linux.namespaces');
      });
      hooks.plan.tap((plan, { spec }) => {
        planNamespace(plan, PLUGIN_NAME, spec, 'ipc');
      });
    },
  };
}
