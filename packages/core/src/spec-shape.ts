import type { ValidationContext } from './validation.js';

/**
 * The shape of the spec fields that bulkhead reads, checked before any plugin sees the spec, so
 * that validators and plan builders may trust types. Unknown properties are ignored, as the
 * runtime-spec requires. Every string must be free of NUL bytes, because it reaches the kernel
 * as a C string.
 */
type Shape =
  | { kind: 'string' | 'boolean' | 'integer' | 'uint64' }
  | { kind: 'array'; items: Shape }
  | { kind: 'record'; values: Shape }
  | { kind: 'object'; fields: Record<string, Shape>; required?: readonly string[] };

const string: Shape = { kind: 'string' };
const boolean: Shape = { kind: 'boolean' };
const integer: Shape = { kind: 'integer' };
/** A safe integer, or 2**64: JSON.parse reads the largest uint64 (RLIM_INFINITY in config.json files) as that double. */
const uint64: Shape = { kind: 'uint64' };
const array = (items: Shape): Shape => ({ kind: 'array', items });
const record = (values: Shape): Shape => ({ kind: 'record', values });
const object = (fields: Record<string, Shape>, required: readonly string[] = []): Shape => ({ kind: 'object', fields, required });

const idMappings = array(object({ containerID: integer, hostID: integer, size: integer }, ['containerID', 'hostID', 'size']));
const hook = object({ path: string, args: array(string), env: array(string), timeout: integer }, ['path']);

const SPEC_SHAPE = object(
  {
    ociVersion: string,
    root: object({ path: string, readonly: boolean }, ['path']),
    process: object(
      {
        terminal: boolean,
        consoleSize: object({ height: integer, width: integer }, ['height', 'width']),
        user: object({ uid: integer, gid: integer, umask: integer, additionalGids: array(integer) }, ['uid', 'gid']),
        args: array(string),
        env: array(string),
        cwd: string,
        rlimits: array(object({ type: string, soft: uint64, hard: uint64 }, ['type', 'soft', 'hard'])),
        noNewPrivileges: boolean,
        oomScoreAdj: integer,
        capabilities: object(Object.fromEntries(['bounding', 'effective', 'permitted', 'inheritable', 'ambient'].map((set) => [set, array(string)]))),
        apparmorProfile: string,
        selinuxLabel: string,
      },
      ['args', 'cwd'],
    ),
    hostname: string,
    domainname: string,
    mounts: array(object({ destination: string, source: string, type: string, options: array(string), uidMappings: idMappings, gidMappings: idMappings }, ['destination'])),
    hooks: object(Object.fromEntries(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'].map((name) => [name, array(hook)]))),
    annotations: record(string),
    linux: object({
      namespaces: array(object({ type: string, path: string }, ['type'])),
      uidMappings: idMappings,
      gidMappings: idMappings,
      timeOffsets: record(object({ secs: integer, nanosecs: integer })),
      rootfsPropagation: string,
      maskedPaths: array(string),
      readonlyPaths: array(string),
      devices: array(object({ path: string, type: string, major: integer, minor: integer, fileMode: integer, uid: integer, gid: integer }, ['path', 'type'])),
      sysctl: record(string),
      cgroupsPath: string,
      resources: object({}),
      mountLabel: string,
    }),
  },
  ['ociVersion'],
);

/** Reports every field of the spec whose type is wrong; returns false when there was any. */
export function validateShape(validation: ValidationContext): boolean {
  const before = validation.problems.length;
  check(validation, validation.spec, SPEC_SHAPE, '');
  return validation.problems.length === before;
}

function check(validation: ValidationContext, value: unknown, shape: Shape, path: string): void {
  const at = path === '' ? 'spec' : path;
  switch (shape.kind) {
    case 'string':
      if (typeof value !== 'string') validation.problem(at, 'must be a string');
      else if (value.includes('\0')) validation.problem(at, 'must not contain a NUL byte');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') validation.problem(at, 'must be a boolean');
      return;
    case 'integer':
      if (!Number.isSafeInteger(value)) validation.problem(at, 'must be an integer');
      return;
    case 'uint64':
      if (!Number.isSafeInteger(value) && value !== 2 ** 64) validation.problem(at, 'must be an integer');
      return;
    case 'array':
      checkArray(validation, value, shape.items, at);
      return;
    case 'record':
      checkRecord(validation, value, shape.values, path, at);
      return;
    case 'object':
      checkObject(validation, value, shape, path, at);
      return;
  }
}

function checkArray(validation: ValidationContext, value: unknown, items: Shape, at: string): void {
  if (!Array.isArray(value)) {
    validation.problem(at, 'must be an array');
    return;
  }
  // An index loop, not forEach, so that holes in a sparse array are reported too.
  for (let i = 0; i < value.length; i++) check(validation, value[i], items, `${at}[${i}]`);
}

function checkRecord(validation: ValidationContext, value: unknown, values: Shape, path: string, at: string): void {
  if (!isPlainObject(value)) {
    validation.problem(at, 'must be an object');
    return;
  }
  for (const [key, item] of Object.entries(value)) check(validation, item, values, `${path}.${key}`);
}

function checkObject(validation: ValidationContext, value: unknown, shape: Extract<Shape, { kind: 'object' }>, path: string, at: string): void {
  if (!isPlainObject(value)) {
    validation.problem(at, 'must be an object');
    return;
  }
  for (const field of shape.required ?? []) {
    if (value[field] === undefined) validation.problem(join(path, field), 'is required');
  }
  for (const [field, fieldShape] of Object.entries(shape.fields)) {
    if (value[field] !== undefined) check(validation, value[field], fieldShape, join(path, field));
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}
