import type { SpecProblem } from './errors.js';
import { NAMESPACE_TYPES } from './namespaces.js';
import type { ContainerSpec } from './spec.js';

/** What a validate tap receives: the spec, and a place to report problems and warnings. */
export class ValidationContext {
  readonly problems: SpecProblem[] = [];
  readonly warnings: SpecProblem[] = [];

  constructor(readonly spec: ContainerSpec) {}

  /** Reports an invalid field by its JSON path, such as "process.args[0]". */
  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** Reports a field that is accepted but ignored or degraded. */
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

/** Fields the core itself owns: the process, the root path's type and the namespace list. */
export function validateCoreFields(validation: ValidationContext, namespaceOwner: (type: string) => string | undefined): void {
  const { spec } = validation;
  if (typeof spec.ociVersion !== 'string') validation.problem('ociVersion', 'must be a string');
  if (spec.root !== undefined && (typeof spec.root.path !== 'string' || spec.root.path === '')) validation.problem('root.path', 'must be a non-empty string');
  validateProcess(validation);
  validateNamespaces(validation, namespaceOwner);
}

function validateProcess(validation: ValidationContext): void {
  const process = validation.spec.process;
  if (process === undefined) return;
  if (!Array.isArray(process.args) || process.args.length === 0) {
    validation.problem('process.args', 'must be a non-empty array of strings');
  } else {
    process.args.forEach((arg, i) => checkString(validation, `process.args[${i}]`, arg));
  }
  if (typeof process.cwd !== 'string' || !process.cwd.startsWith('/')) validation.problem('process.cwd', 'must be an absolute path');
  (process.env ?? []).forEach((entry, i) => {
    if (checkString(validation, `process.env[${i}]`, entry) && !/^[^=]+=/.test(entry)) validation.problem(`process.env[${i}]`, 'must have the form KEY=VALUE');
  });
  validateUser(validation);
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
    if (ns.path !== undefined && (typeof ns.path !== 'string' || !ns.path.startsWith('/'))) validation.problem(`${path}.path`, 'must be an absolute path');
    if (namespaceOwner(ns.type) === undefined) validation.problem(`${path}.type`, `no plugin of this runtime handles the ${ns.type} namespace`);
  });
}

function checkString(validation: ValidationContext, path: string, value: unknown): boolean {
  if (typeof value !== 'string') {
    validation.problem(path, 'must be a string');
    return false;
  }
  if (value.includes('\0')) {
    validation.problem(path, 'must not contain a NUL byte');
    return false;
  }
  return true;
}

function checkId(validation: ValidationContext, path: string, value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xfffffffe) validation.problem(path, 'must be an integer from 0 to 4294967294');
}
