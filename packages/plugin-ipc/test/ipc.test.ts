import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec } from '@bulkhead/core';
import { ipcPlugin } from '../src/index.js';

const spec = (extra: Partial<ContainerSpec>): ContainerSpec => ({ ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, ...extra });

test('ipc namespace is planned as new or joined', (t) => {
  const runtime = new Runtime().use(ipcPlugin());
  t.deepEqual(runtime.describe(spec({ linux: { namespaces: [{ type: 'ipc' }] } })).namespaces, [{ type: 'ipc', plugin: '@bulkhead/plugin-ipc' }]);
  t.deepEqual(runtime.describe(spec({ linux: { namespaces: [{ type: 'ipc', path: '/proc/1/ns/ipc' }] } })).namespaces, [{ type: 'ipc', plugin: '@bulkhead/plugin-ipc', path: '/proc/1/ns/ipc' }]);
});

test('mqueue mount without a new ipc namespace is rejected', (t) => {
  const runtime = new Runtime().use(ipcPlugin());
  t.throws(() => runtime.validate(spec({ mounts: [{ destination: '/dev/mqueue', type: 'mqueue' }] })), { message: 'mounts[0].type: an mqueue mount needs a new ipc namespace in linux.namespaces' });
});
