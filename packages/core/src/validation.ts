import { statSync } from 'node:fs';
import type { AuditRecord } from './audit.js';
import type { SpecProblem } from './errors.js';
import { NAMESPACE_TYPES } from './namespaces.js';
import type { ContainerSpec } from './spec.js';

/** Argument of a validate tap: the spec, and a place to report problems and warnings. */
export class ValidationContext {
  readonly problems: SpecProblem[] = [];
  readonly warnings: SpecProblem[] = [];
  /** Policy denials reported with `deny`; the runtime turns each into an audit event. */
  readonly denials: AuditRecord[] = [];

  constructor(
    readonly spec: ContainerSpec,
    /** The bundle directory, against which relative paths in the spec resolve. */
    readonly bundle: string = process.cwd(),
  ) {}

  /** Reports an invalid field by its JSON path, such as "process.args[0]". */
  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /**
   * Reports a field that an operator's policy denies: a problem like any other, and also an
   * audit event with decision "deny", this action and the field as its JSON path.
   */
  deny(plugin: string, path: string, action: string, message: string, detail?: Record<string, unknown>): void {
    this.problem(path, message);
    this.denials.push({ plugin, decision: 'deny', action, field: path, ...(detail === undefined ? {} : { detail }) });
  }

  /** Reports a field that is accepted but ignored or degraded. */
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

/**
 * Spec fields that change what the container is. Each one that a spec sets must be handled by
 * the core or claimed by a plugin: a runtime without the plugin for a field rejects it instead
 * of running the container without it.
 */
const ENFORCED_FIELDS = [
  'root',
  'mounts',
  'hostname',
  'domainname',
  'hooks',
  'process.rlimits',
  'process.noNewPrivileges',
  'process.oomScoreAdj',
  'process.capabilities',
  'process.apparmorProfile',
  'process.selinuxLabel',
  'linux.uidMappings',
  'linux.gidMappings',
  'linux.resources',
  'linux.cgroupsPath',
  'linux.sysctl',
  'linux.seccomp',
  'linux.devices',
  'linux.maskedPaths',
  'linux.readonlyPaths',
  'linux.rootfsPropagation',
  'linux.mountLabel',
  'linux.intelRdt',
  'linux.personality',
  'linux.timeOffsets',
] as const;

/** Checks the fields the core itself owns (the process and the namespace list) and rejects fields no plugin handles. */
export function validateCoreFields(validation: ValidationContext, owners: { namespace(type: string): string | undefined; field(path: string): string | undefined }): void {
  if (validation.spec.root !== undefined && validation.spec.root.path === '') validation.problem('root.path', 'must not be empty');
  validateProcess(validation);
  validateNamespaces(validation, owners.namespace);
  for (const field of ENFORCED_FIELDS) {
    if (isSet(lookup(validation.spec, field)) && owners.field(field) === undefined) {
      validation.problem(field, 'is not supported by this runtime: no plugin handles it');
    }
  }
}

/** True for a value that asks for something: not absent, false, or an empty array or object. */
function isSet(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function lookup(spec: object, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined), spec);
}

function validateProcess(validation: ValidationContext): void {
  const process = validation.spec.process;
  if (process === undefined) return;
  if (process.args.length === 0) validation.problem('process.args', 'must not be empty');
  if (!process.cwd.startsWith('/')) validation.problem('process.cwd', 'must be an absolute path');
  (process.env ?? []).forEach((entry, i) => {
    if (!/^[^=]+=/.test(entry)) validation.problem(`process.env[${i}]`, 'must have the form KEY=VALUE');
  });
  validateUser(validation);
  for (const field of ['height', 'width'] as const) {
    const value = process.consoleSize?.[field];
    if (value !== undefined && !(value >= 0 && value <= 0xffff)) validation.problem(`process.consoleSize.${field}`, 'must be an integer from 0 to 65535');
  }
}

function validateUser(validation: ValidationContext): void {
  const user = validation.spec.process?.user;
  if (user === undefined) return;
  for (const field of ['uid', 'gid'] as const) checkId(validation, `process.user.${field}`, user[field]);
  (user.additionalGids ?? []).forEach((gid, i) => checkId(validation, `process.user.additionalGids[${i}]`, gid));
  if (user.umask !== undefined && !(Number.isInteger(user.umask) && user.umask >= 0 && user.umask <= 0o777)) {
    validation.problem('process.user.umask', 'must be an integer from 0 to 0777');
  }
}

function validateNamespaces(validation: ValidationContext, namespaceOwner: (type: string) => string | undefined): void {
  const seen = new Set<string>();
  (validation.spec.linux?.namespaces ?? []).forEach((ns, i) => {
    const path = `linux.namespaces[${i}]`;
    if (!NAMESPACE_TYPES.includes(ns.type)) {
      validation.problem(`${path}.type`, `unknown namespace type ${JSON.stringify(ns.type)}; expected one of ${NAMESPACE_TYPES.join(', ')}`);
      return;
    }
    if (seen.has(ns.type)) validation.problem(`${path}.type`, `duplicate ${ns.type} namespace`);
    seen.add(ns.type);
    if (ns.path !== undefined) validateNamespacePath(validation, `${path}.path`, ns.path);
    if (namespaceOwner(ns.type) === undefined) validation.problem(`${path}.type`, `no plugin of this runtime handles the ${ns.type} namespace`);
  });
}

/** A namespace to join must exist when the container is created, so its absence is reported here with the path. */
function validateNamespacePath(validation: ValidationContext, field: string, path: string): void {
  if (!path.startsWith('/')) {
    validation.problem(field, 'must be an absolute path');
    return;
  }
  try {
    statSync(path);
  } catch (error) {
    validation.problem(field, `${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

function checkId(validation: ValidationContext, path: string, value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xfffffffe) validation.problem(path, 'must be an integer from 0 to 4294967294');
}
