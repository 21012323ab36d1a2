import { findNamespace, planNamespace, type Plugin, type ValidationContext } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-uts';

/** HOST_NAME_MAX on Linux; the kernel rejects longer names with EINVAL. */
const HOST_NAME_MAX = 64;

/** A hostname as RFC 1123 allows: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME_PATTERN = /^(?=.{1,64}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The UTS namespace: the container's own hostname and NIS domain name. */
export function utsPlugin(): Plugin {
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { namespaces: ['uts'], fields: ['hostname', 'domainname'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => {
        validateName(validation, 'hostname');
        validateName(validation, 'domainname');
      });
      hooks.plan.tap((plan, { spec }) => {
        planNamespace(plan, PLUGIN_NAME, spec, 'uts');
        if (spec.hostname !== undefined) plan.add(PLUGIN_NAME, 'host', { op: 'sethostname', name: spec.hostname });
        if (spec.domainname !== undefined) plan.add(PLUGIN_NAME, 'host', { op: 'setdomainname', name: spec.domainname });
      });
    },
  };
}

function validateName(validation: ValidationContext, field: 'hostname' | 'domainname'): void {
  const value = validation.spec[field];
  if (value === undefined) return;
  if (typeof value !== 'string') {
    validation.problem(field, 'must be a string');
    return;
  }
  if (Buffer.byteLength(value) > HOST_NAME_MAX) validation.problem(field, `must be at most ${HOST_NAME_MAX} bytes, got ${Buffer.byteLength(value)}`);
  else if (field === 'hostname' && !HOSTNAME_PATTERN.test(value)) validation.problem(field, `invalid hostname ${JSON.stringify(value)}: use letters, digits, '-' and '.', as RFC 1123 allows`);
  // The runtime-spec requires an error when a name is set without a UTS namespace of the container's own.
  const ns = findNamespace(validation.spec, 'uts');
  if (ns === undefined || ns.path !== undefined) validation.problem(field, 'setting it needs a new uts namespace in linux.namespaces');
}
