import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec, type SpecError } from '@bulkhead/core';
import { hooksPlugin } from '../src/index.js';

const spec = (hooks: ContainerSpec['hooks']): ContainerSpec => ({ ociVersion: OCI_VERSION, process: { args: ['true'], cwd: '/' }, hooks });

test('hooks field is handled once the plugin is used', (t) => {
  const withHooks = spec({ poststop: [{ path: '/bin/true' }] });
  t.throws(() => new Runtime().validate(withHooks), { message: 'hooks: is not supported by this runtime: no plugin handles it' });
  t.notThrows(() => new Runtime().use(hooksPlugin()).validate(withHooks));
});

test('relative hook paths and bad timeouts are spec problems', (t) => {
  const error = t.throws(() => new Runtime().use(hooksPlugin()).validate(spec({ createRuntime: [{ path: 'hook.sh' }], poststart: [{ path: '/bin/true', timeout: 0 }] }))) as SpecError;
  t.deepEqual(
    error.problems.map((p) => `${p.path}: ${p.message}`),
    ['hooks.createRuntime[0].path: must be an absolute path', 'hooks.poststart[0].timeout: must be a positive number of seconds'],
  );
});
