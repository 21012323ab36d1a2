import type { Plan, Plugin, Rlimit, ValidationContext } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead/plugin-rlimit';

/**
 * Resource numbers of the rlimit types that the runtime-spec names, from the kernel's
 * include/uapi/asm-generic/resource.h. x86-64 and arm64 use these generic numbers; mips, sparc
 * and alpha renumber some of them, and this plugin does not support those architectures.
 */
export const RLIMIT_RESOURCES: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/** What JSON.parse makes of 18446744073709551615, the uint64 RLIM_INFINITY of config.json files. */
const UINT64_MAX_AS_DOUBLE = 2 ** 64;

/** The largest finite limit the executor's int64 argument carries. */
const INT64_MAX = 2n ** 63n - 1n;

/**
 * process.rlimits: validates each entry and plans one setrlimit step per entry in the 'limits'
 * phase. Without CAP_SYS_RESOURCE the kernel rejects raising a hard limit with EPERM, and the
 * step's error then names the rlimit.
 */
export function rlimitPlugin(): Plugin {
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { fields: ['process.rlimits'] },
    apply({ hooks }) {
      hooks.validate.tap((validation) => validateRlimits(validation));
      hooks.plan.tap((plan, { spec }) => planRlimits(plan, spec.process?.rlimits ?? []));
    },
  };
}

/** Converts a spec value to the executor's: -1 is RLIM_INFINITY, and so is the largest uint64. */
export function toLimit(value: number): number {
  return value === -1 || value === UINT64_MAX_AS_DOUBLE ? -1 : value;
}

function planRlimits(plan: Plan, rlimits: readonly Rlimit[]): void {
  for (const rlimit of rlimits) {
    const resource = RLIMIT_RESOURCES[rlimit.type]!;
    plan.add(PLUGIN_NAME, 'limits', { op: 'setrlimit', resource, soft: toLimit(rlimit.soft), hard: toLimit(rlimit.hard), name: rlimit.type });
  }
}

function validateRlimits(validation: ValidationContext): void {
  const seen = new Set<string>();
  (validation.spec.process?.rlimits ?? []).forEach((rlimit, i) => {
    const path = `process.rlimits[${i}]`;
    if (!Object.hasOwn(RLIMIT_RESOURCES, rlimit.type)) {
      validation.problem(`${path}.type`, `unknown rlimit type ${JSON.stringify(rlimit.type)}; expected one of ${Object.keys(RLIMIT_RESOURCES).join(', ')}`);
    } else if (seen.has(rlimit.type)) {
      validation.problem(`${path}.type`, `duplicate ${rlimit.type}`);
    }
    seen.add(rlimit.type);
    const soft = checkValue(validation, `${path}.soft`, rlimit.soft);
    const hard = checkValue(validation, `${path}.hard`, rlimit.hard);
    if (soft !== undefined && hard !== undefined && soft > hard) {
      validation.problem(`${path}.soft`, `must not exceed the hard limit: soft ${rlimit.soft} is above hard ${rlimit.hard}`);
    }
  });
}

/** Checks one limit value; returns it as a bigint with infinity as the largest value, or undefined when invalid. */
function checkValue(validation: ValidationContext, path: string, value: number): bigint | undefined {
  const limit = toLimit(value);
  if (limit === -1) return INT64_MAX + 1n;
  if (limit < 0) {
    validation.problem(path, `must be a non-negative integer, or -1 for unlimited; got ${value}`);
    return undefined;
  }
  return BigInt(limit);
}
