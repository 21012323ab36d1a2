import test from 'ava';
import { OCI_VERSION, Runtime, SpecError, type ContainerSpec } from '../src/index.js';

const base = { ociVersion: OCI_VERSION, process: { args: ['true'], cwd: '/' } };

const cases: [string, unknown, string][] = [
  ['null spec', null, 'spec: must be an object'],
  ['array spec', [], 'spec: must be an object'],
  ['missing ociVersion', { process: base.process }, 'ociVersion: is required'],
  ['null root', { ...base, root: null }, 'root: must be an object'],
  ['root without path', { ...base, root: {} }, 'root.path: is required'],
  ['null process', { ...base, process: null }, 'process: must be an object'],
  ['args as string', { ...base, process: { args: 'true', cwd: '/' } }, 'process.args: must be an array'],
  ['holes in args', { ...base, process: { args: new Array(2), cwd: '/' } }, 'process.args[0]: must be a string; process.args[1]: must be a string'],
  ['env as string', { ...base, process: { ...base.process, env: 'PATH=/bin' } }, 'process.env: must be an array'],
  ['env as object', { ...base, process: { ...base.process, env: {} } }, 'process.env: must be an array'],
  ['NUL in cwd', { ...base, process: { args: ['true'], cwd: '/t\0mp' } }, 'process.cwd: must not contain a NUL byte'],
  ['null user', { ...base, process: { ...base.process, user: null } }, 'process.user: must be an object'],
  ['gids as string', { ...base, process: { ...base.process, user: { uid: 0, gid: 0, additionalGids: '12' } } }, 'process.user.additionalGids: must be an array'],
  ['fractional uid', { ...base, process: { ...base.process, user: { uid: 1.5, gid: 0 } } }, 'process.user.uid: must be an integer'],
  ['namespaces as object', { ...base, linux: { namespaces: {} } }, 'linux.namespaces: must be an array'],
  ['null namespace', { ...base, linux: { namespaces: [null] } }, 'linux.namespaces[0]: must be an object'],
  ['mounts as string', { ...base, mounts: 'proc' }, 'mounts: must be an array'],
  ['null mount', { ...base, mounts: [null] }, 'mounts[0]: must be an object'],
  ['numeric mount source', { ...base, mounts: [{ destination: '/x', source: 5 }] }, 'mounts[0].source: must be a string'],
  ['NUL in mount option', { ...base, mounts: [{ destination: '/x', type: 'tmpfs', options: ['a\0b'] }] }, 'mounts[0].options[0]: must not contain a NUL byte'],
  ['NUL in domainname', { ...base, domainname: 'a\0' }, 'domainname: must not contain a NUL byte'],
  ['annotation not a string', { ...base, annotations: { a: 1 } }, 'annotations.a: must be a string'],
];

for (const [name, spec, message] of cases) {
  test(`shape: ${name}`, (t) => {
    const error = t.throws(() => new Runtime().validate(spec as ContainerSpec)) as SpecError;
    t.true(error instanceof SpecError, error.message);
    t.is(error.message, message);
  });
}

test('every shape problem is reported at once', (t) => {
  const error = t.throws(() => new Runtime().validate({ ociVersion: 1, process: { args: [1, 2], cwd: 3 } } as unknown as ContainerSpec)) as SpecError;
  t.deepEqual(
    error.problems.map((p) => p.path),
    ['ociVersion', 'process.args[0]', 'process.args[1]', 'process.cwd'],
  );
});

test('unknown properties are ignored', (t) => {
  t.notThrows(() => new Runtime().validate({ ...base, vendorExtension: { anything: [1] } } as ContainerSpec));
});

const unhandled: [string, Partial<ContainerSpec>][] = [
  ['process.rlimits', { process: { ...base.process, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }] } }],
  ['process.noNewPrivileges', { process: { ...base.process, noNewPrivileges: true } }],
  ['root', { root: { path: '/' } }],
  ['linux.maskedPaths', { linux: { maskedPaths: ['/proc/kcore'] } }],
  ['hooks', { hooks: { poststart: [{ path: '/bin/true' }] } }],
];

for (const [field, extra] of unhandled) {
  test(`field ${field} without a plugin is rejected`, (t) => {
    t.throws(() => new Runtime().validate({ ...base, ...extra } as ContainerSpec), { message: `${field}: is not supported by this runtime: no plugin handles it` });
  });
}

test('process.terminal is handled by the core', (t) => {
  t.notThrows(() => new Runtime().validate({ ...base, process: { ...base.process, terminal: true, consoleSize: { height: 24, width: 80 } } } as ContainerSpec));
});

test('a console size outside 0..65535 names the field', (t) => {
  const spec = { ...base, process: { ...base.process, terminal: true, consoleSize: { height: 70000, width: -1 } } } as ContainerSpec;
  const error = t.throws(() => new Runtime().validate(spec)) as SpecError;
  t.deepEqual(
    error.problems.map((p) => p.path),
    ['process.consoleSize.height', 'process.consoleSize.width'],
  );
});

test('empty or false fields need no plugin', (t) => {
  t.notThrows(() => new Runtime().validate({ ...base, process: { ...base.process, terminal: false, noNewPrivileges: false, rlimits: [] }, linux: { maskedPaths: [] } } as ContainerSpec));
});

test('namespace path that does not exist names the path', (t) => {
  const runtime = new Runtime().use({ name: 'net', core: '^0.1.0', owns: { namespaces: ['network'] }, apply() {} });
  t.throws(() => runtime.validate({ ...base, linux: { namespaces: [{ type: 'network', path: '/nonexistent/ns/net' }] } } as ContainerSpec), { message: 'linux.namespaces[0].path: /nonexistent/ns/net: ENOENT' });
});
