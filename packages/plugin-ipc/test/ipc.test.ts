import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec, type SpecError } from '@bulkhead/core';
import { ipcPlugin } from '../src/index.js';

const spec = (extra: Partial<ContainerSpec>): ContainerSpec => ({ ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, ...extra });

test('ipc namespace is planned as new or joined', (t) => {
  const runtime = new Runtime().use(ipcPlugin());
  t.deepEqual(runtime.describe(spec({ linux: { namespaces: [{ type: 'ipc' }] } })).namespaces, [{ type: 'ipc', plugin: '@bulkhead/plugin-ipc' }]);
  t.deepEqual(runtime.describe(spec({ linux: { namespaces: [{ type: 'ipc', path: '/proc/self/ns/ipc' }] } })).namespaces, [{ type: 'ipc', plugin: '@bulkhead/plugin-ipc', path: '/proc/self/ns/ipc' }]);
});

test('mqueue mount without a new ipc namespace is rejected', (t) => {
  const runtime = new Runtime().use(ipcPlugin());
  const error = t.throws(() => runtime.validate(spec({ mounts: [{ destination: '/dev/mqueue', type: 'mqueue' }] }))) as SpecError;
  t.true(error.problems.some((p) => p.path === 'mounts[0].type' && p.message === 'an mqueue mount needs a new ipc namespace in linux.namespaces'));
});
