import { existsSync } from 'node:fs';
import { findNamespace, type ContainerSpec, type Plan, type Plugin, type TimeClock, type ValidationContext } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-time';

/** Clocks that a time namespace offsets, as linux.timeOffsets names them. */
const CLOCKS: readonly TimeClock[] = ['monotonic', 'boottime'];
const MAX_NANOSECS = 999_999_999;

export interface TimePluginOptions {
  /** Whether the kernel has time namespaces (Linux 5.6, CONFIG_TIME_NS). Default: /proc/self/ns/time exists. */
  kernelHasTimeNamespaces?: () => boolean;
}

/**
 * Creates the plugin of the time namespace and `linux.timeOffsets`. Without a new user namespace, the executor's setup
 * stage creates the time namespace before the clone and writes the offsets from the plan. With a
 * new user namespace, the child unshares it after the attach barrier instead, so that the
 * container's user namespace owns it: an unprivileged caller could not create it in the setup
 * stage at all.
 */
export function timePlugin(options: TimePluginOptions = {}): Plugin {
  const kernelHasTimeNamespaces = options.kernelHasTimeNamespaces ?? (() => existsSync('/proc/self/ns/time'));
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['time'], fields: ['linux.timeOffsets'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateTime(validation, kernelHasTimeNamespaces));
      hooks.plan.tap((plan, { spec }) => planTime(plan, spec));
    },
  };
}

function validateTime(validation: ValidationContext, kernelHasTimeNamespaces: () => boolean): void {
  const { spec } = validation;
  const index = spec.linux?.namespaces?.findIndex((ns) => ns.type === 'time') ?? -1;
  const offsets = spec.linux?.timeOffsets;
  if (index >= 0 && !kernelHasTimeNamespaces()) {
    validation.problem(`linux.namespaces[${index}]`, 'time namespaces are not supported by this kernel: they need Linux 5.6 or later built with CONFIG_TIME_NS');
  }
  if (offsets === undefined) return;
  const ns = findNamespace(spec, 'time');
  if (ns === undefined || ns.path !== undefined) validation.problem('linux.timeOffsets', 'setting it needs a new time namespace in linux.namespaces');
  for (const [clock, offset] of Object.entries(offsets)) {
    const path = `linux.timeOffsets.${clock}`;
    if (!(CLOCKS as readonly string[]).includes(clock)) {
      validation.problem(path, `unknown clock: a time namespace offsets only ${CLOCKS.join(' and ')}`);
      continue;
    }
    const nanosecs = offset.nanosecs ?? 0;
    if (nanosecs < 0 || nanosecs > MAX_NANOSECS) validation.problem(`${path}.nanosecs`, `must be between 0 and ${MAX_NANOSECS}, got ${nanosecs}`);
  }
}

function planTime(plan: Plan, spec: ContainerSpec): void {
  const ns = findNamespace(spec, 'time');
  if (ns === undefined) return;
  if (ns.path !== undefined) {
    plan.namespace(PLUGIN_NAME, 'time', ns.path);
    return;
  }
  const offsets = CLOCKS.flatMap((clock) => {
    const offset = spec.linux?.timeOffsets?.[clock];
    return offset === undefined ? [] : [{ clock, secs: offset.secs ?? 0, nanosecs: offset.nanosecs ?? 0 }];
  });

  const user = findNamespace(spec, 'user');
  if (user === undefined || user.path !== undefined) {
    plan.namespace(PLUGIN_NAME, 'time', undefined);
    for (const offset of offsets) plan.timeOffset(PLUGIN_NAME, offset.clock, offset.secs, offset.nanosecs);
    return;
  }

  // In the container's user namespace, after the attach barrier at which the parent writes the
  // maps. The host's /proc is still mounted here, and /proc/self/timens_offsets accepts offsets
  // until the first process enters the namespace, which happens at execve (or INIT's fork).
  plan.add(PLUGIN_NAME, 'filesystem', { op: 'unshare', namespaces: ['time'] });
  if (offsets.length > 0) {
    const data = offsets.map((offset) => `${offset.clock} ${offset.secs} ${offset.nanosecs}\n`).join('');
    plan.add(PLUGIN_NAME, 'filesystem', { op: 'write-file', target: { path: '/proc/self/timens_offsets' }, data });
  }
}
