import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec } from '@bulkhead/core';
import { utsPlugin } from '../src/index.js';

const runtime = () => new Runtime().use(utsPlugin());
const spec = (extra: Partial<ContainerSpec>): ContainerSpec => ({ ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, linux: { namespaces: [{ type: 'uts' }] }, ...extra });

test('hostname and domainname become steps', (t) => {
  const steps = runtime().describe(spec({ hostname: 'box', domainname: 'example' })).steps();
  t.deepEqual(
    steps.filter((s) => s.phase === 'host').map((s) => s.step),
    [
      { op: 'sethostname', name: 'box' },
      { op: 'setdomainname', name: 'example' },
    ],
  );
});

for (const hostname of ['-bad', 'under_score', 'a..b', 'x'.repeat(65), '', 'space here']) {
  test(`hostname ${JSON.stringify(hostname.slice(0, 12))} is rejected`, (t) => {
    t.throws(() => runtime().validate(spec({ hostname })), { message: /^hostname: / });
  });
}

test('hostname without a new uts namespace is rejected', (t) => {
  t.throws(() => runtime().validate(spec({ hostname: 'box', linux: { namespaces: [] } })), { message: 'hostname: setting it needs a new uts namespace in linux.namespaces' });
});

test('uts namespace is planned as new', (t) => {
  t.deepEqual(runtime().describe(spec({})).namespaces, [{ type: 'uts', plugin: '@bulkhead/plugin-uts' }]);
});
