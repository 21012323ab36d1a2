import type { ContainerSpec } from '@bulkhead/core';
import { CAPABILITY_NAMES } from '@bulkhead/plugin-capabilities';
import { COMMON_CAPABILITIES, DEFAULT_MASKED_PATHS } from './defaults.js';

/** One rule a spec breaks, at the JSON path of the field that breaks it. */
export interface Violation {
  rule: RuleName;
  path: string;
  message: string;
}

/**
 * The rules and their parameters. `false` turns a rule off. docs/security.md describes each
 * rule and the rules file that sets them.
 */
export interface Rules {
  /** No process with every capability, and no root process that keeps the runtime's capabilities. */
  noPrivileged: boolean;
  /** root.readonly is true. */
  readonlyRoot: boolean;
  /** Each of these namespaces is the container's own, neither absent (the host's) nor joined by path. */
  namespaces: string[] | false;
  /** No set of process.capabilities contains a capability outside this list. */
  allowedCapabilities: string[] | false;
  /** No set of process.capabilities contains one of these. */
  forbiddenCapabilities: string[] | false;
  /** linux.seccomp is set, and its defaultAction is not SCMP_ACT_ALLOW. */
  seccomp: boolean;
  /** linux.resources.memory.limit is set and positive. */
  memoryLimit: boolean;
  /** linux.resources.pids.limit is set and positive. */
  pidsLimit: boolean;
  /** process.noNewPrivileges is true. */
  noNewPrivileges: boolean;
  /** process.user.uid is not 0. */
  nonRootUser: boolean;
  /** linux.maskedPaths includes every one of these. */
  maskedPaths: string[] | false;
}
export type RuleName = keyof Rules;

/** The rules `bulkhead check` applies when no rules file changes them. */
export const DEFAULT_RULES: Readonly<Rules> = Object.freeze({
  noPrivileged: true,
  readonlyRoot: true,
  namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'],
  allowedCapabilities: [...COMMON_CAPABILITIES],
  forbiddenCapabilities: ['CAP_SYS_ADMIN', 'CAP_SYS_MODULE', 'CAP_SYS_PTRACE', 'CAP_SYS_RAWIO', 'CAP_SYS_BOOT', 'CAP_SYS_TIME', 'CAP_NET_ADMIN', 'CAP_DAC_READ_SEARCH', 'CAP_MAC_ADMIN', 'CAP_MAC_OVERRIDE', 'CAP_BPF', 'CAP_PERFMON'],
  seccomp: true,
  memoryLimit: true,
  pidsLimit: true,
  noNewPrivileges: true,
  nonRootUser: false,
  maskedPaths: [...DEFAULT_MASKED_PATHS],
});

const SETS = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;

type Check = (spec: ContainerSpec, parameter: never, report: (path: string, message: string) => void) => void;

const CHECKS: Record<RuleName, Check> = {
  noPrivileged: (spec, _, report) => checkPrivileged(spec, report),
  readonlyRoot: (spec, _, report) => {
    if (spec.root !== undefined && spec.root.readonly !== true) report('root.readonly', 'the root filesystem is writable');
  },
  namespaces: (spec, types: string[], report) => {
    const namespaces = spec.linux?.namespaces ?? [];
    for (const type of types) {
      const index = namespaces.findIndex((ns) => ns.type === type);
      if (index < 0) report('linux.namespaces', `no ${type} namespace: the container shares the host's`);
      else if (namespaces[index]!.path !== undefined) report(`linux.namespaces[${index}].path`, `the ${type} namespace is joined from ${namespaces[index]!.path}, not the container's own`);
    }
  },
  allowedCapabilities: (spec, allowed: string[], report) => eachCapability(spec, (path, name) => {
    if (!allowed.includes(name)) report(path, `${name} is not among the allowed capabilities`);
  }),
  forbiddenCapabilities: (spec, forbidden: string[], report) => eachCapability(spec, (path, name) => {
    if (forbidden.includes(name)) report(path, `${name} is forbidden`);
  }),
  seccomp: (spec, _, report) => {
    const seccomp = (spec.linux as { seccomp?: { defaultAction?: string } } | undefined)?.seccomp;
    if (seccomp === undefined) report('linux.seccomp', 'no seccomp profile: every syscall is allowed');
    else if (seccomp.defaultAction === 'SCMP_ACT_ALLOW') report('linux.seccomp.defaultAction', 'the profile allows every syscall it does not list');
  },
  memoryLimit: (spec, _, report) => {
    if (!isPositive(resource(spec, 'memory', 'limit'))) report('linux.resources.memory.limit', 'no memory limit');
  },
  pidsLimit: (spec, _, report) => {
    if (!isPositive(resource(spec, 'pids', 'limit'))) report('linux.resources.pids.limit', 'no limit on the number of processes');
  },
  noNewPrivileges: (spec, _, report) => {
    if (spec.process !== undefined && spec.process.noNewPrivileges !== true) report('process.noNewPrivileges', 'setuid programs and file capabilities can raise privileges');
  },
  nonRootUser: (spec, _, report) => {
    if (spec.process !== undefined && (spec.process.user?.uid ?? 0) === 0) report('process.user.uid', 'the process runs as root');
  },
  maskedPaths: (spec, paths: string[], report) => {
    const masked = spec.linux?.maskedPaths ?? [];
    for (const path of paths) if (!masked.includes(path)) report('linux.maskedPaths', `${path} is not masked`);
  },
};

/** Evaluates a spec against rules; returns every violation, in rule order. An empty list is a pass. */
export function checkCompliance(spec: ContainerSpec, rules: Rules = DEFAULT_RULES): Violation[] {
  const violations: Violation[] = [];
  for (const rule of Object.keys(CHECKS) as RuleName[]) {
    const parameter = rules[rule];
    if (parameter === false) continue;
    CHECKS[rule](spec, parameter as never, (path, message) => violations.push({ rule, path, message }));
  }
  return violations;
}

function checkPrivileged(spec: ContainerSpec, report: (path: string, message: string) => void): void {
  const process = spec.process;
  if (process === undefined) return;
  const bounding = process.capabilities?.bounding;
  if (process.capabilities === undefined) {
    if ((process.user?.uid ?? 0) === 0) report('process.capabilities', 'absent: the root process keeps every capability of the runtime');
    return;
  }
  if (bounding !== undefined && CAPABILITY_NAMES.every((name) => bounding.includes(name))) report('process.capabilities.bounding', 'contains every capability: the container is privileged');
}

function eachCapability(spec: ContainerSpec, visit: (path: string, name: string) => void): void {
  const capabilities = spec.process?.capabilities;
  if (capabilities === undefined) return;
  for (const set of SETS) (capabilities[set] ?? []).forEach((name, i) => visit(`process.capabilities.${set}[${i}]`, name));
}

function resource(spec: ContainerSpec, controller: string, field: string): unknown {
  const section = spec.linux?.resources?.[controller];
  return typeof section === 'object' && section !== null ? (section as Record<string, unknown>)[field] : undefined;
}

function isPositive(value: unknown): boolean {
  return typeof value === 'number' && value > 0;
}

/**
 * Reads a rules file: a JSON object `{ "rules": { NAME: VALUE, ... } }` whose entries replace the
 * defaults of those rules. VALUE is `false` to turn a rule off, `true` to turn it on with its
 * default parameter, or the parameter itself (a list of names). Throws on an unknown rule or a
 * value of the wrong type, naming its JSON path.
 */
export function parseRules(document: unknown): Rules {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new Error('rules: must be a JSON object');
  const entries = (document as { rules?: unknown }).rules;
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw new Error('rules.rules: must be an object of rule names to values');
  const rules = structuredClone(DEFAULT_RULES) as Rules;
  for (const [name, value] of Object.entries(entries)) {
    if (!Object.hasOwn(DEFAULT_RULES, name)) throw new Error(`rules.rules.${name}: unknown rule; expected one of ${Object.keys(DEFAULT_RULES).join(', ')}`);
    (rules as unknown as Record<string, unknown>)[name] = ruleValue(name as RuleName, value);
  }
  return rules;
}

function ruleValue(name: RuleName, value: unknown): unknown {
  const takesList = Array.isArray(DEFAULT_RULES[name]);
  if (value === false) return false;
  // A rule that is off by default (nonRootUser) is a switch, so `true` turns it on.
  if (value === true) return takesList ? structuredClone(DEFAULT_RULES[name]) : true;
  if (takesList && Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  throw new Error(`rules.rules.${name}: must be ${takesList ? 'true, false or a list of strings' : 'true or false'}`);
}
