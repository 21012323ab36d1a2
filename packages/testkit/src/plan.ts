import type { ContainerSpec, PlannedStep, Plugin } from '@bulkhead/core';
import { RecordingSyscalls } from '@bulkhead/core/testing';
import { createRuntime, defaultSpec } from '@bulkhead/cli';

/** A plugin's share of a container's plan, built without root and without touching the host. */
export interface PlanResult {
  /** The steps the plugin added, in the order the executor runs them. */
  steps: PlannedStep[];
  /** Every step of the plan, barriers included. */
  all: PlannedStep[];
  /** The recording syscall layer the runtime was given: it records kernel probes, such as syscallExists, and nothing that changes the host. */
  syscalls: RecordingSyscalls;
}

/**
 * Validates `spec` with the reference runtime plus `plugins` and builds its plan, then returns
 * the steps that `pluginName` added. Validation problems are thrown as the runtime throws them,
 * so a test can assert the error of an invalid spec the same way.
 */
export function planOf(plugins: Plugin[], spec: ContainerSpec, pluginName = plugins.at(-1)?.name): PlanResult {
  const syscalls = new RecordingSyscalls();
  const runtime = createRuntime({ syscalls, stateRoot: '/nonexistent/bulkhead-testkit' });
  for (const plugin of plugins) runtime.use(plugin);
  const all = runtime.describe(spec, { id: 'testkit-plan' }).steps();
  return { steps: all.filter((step) => step.plugin === pluginName), all, syscalls };
}

/**
 * Returns the spec `bulkhead spec` writes, running `args` on `rootfs`: new pid, ipc, uts and
 * mount namespaces, the standard mounts and masked paths. Without `rootfs` the container gets
 * the built-in read-only root made of host directories. A starting point to edit in tests.
 */
export function baseSpec(args: string[], rootfs?: string): ContainerSpec {
  return defaultSpec(rootfs === undefined ? { args } : { args, rootfs });
}
