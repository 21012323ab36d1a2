import { spawn } from 'node:child_process';
import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec } from '@bulkhead/core';
import { containerPidOf, hostPidOf, pidPlugin, readNSpid } from '../src/index.js';

const spec: ContainerSpec = { ociVersion: OCI_VERSION, process: { args: ['sh'], cwd: '/' }, linux: { namespaces: [{ type: 'pid' }] } };

test('init option adds an init step before seccomp', (t) => {
  const steps = new Runtime().use(pidPlugin({ init: true })).describe(spec).steps();
  const init = steps.find((s) => s.step.op === 'init');
  t.is(init?.phase, 'privileges');
});

test('no init step by default', (t) => {
  const steps = new Runtime().use(pidPlugin()).describe(spec).steps();
  t.false(steps.some((s) => s.step.op === 'init'));
});

test('no init step when the pid namespace is joined', (t) => {
  const joined: ContainerSpec = { ...spec, linux: { namespaces: [{ type: 'pid', path: '/proc/self/ns/pid' }] } };
  const steps = new Runtime().use(pidPlugin({ init: true })).describe(joined).steps();
  t.false(steps.some((s) => s.step.op === 'init'));
});

test('NSpid of this process has its host pid', (t) => {
  t.is(readNSpid(process.pid).at(0), process.pid);
});

test('pid in the same namespace translates to itself', (t) => {
  const sibling = spawn('sleep', ['10'], { stdio: 'ignore' });
  t.teardown(() => sibling.kill());
  t.is(containerPidOf(process.pid, sibling.pid!), process.pid);
  t.is(hostPidOf(sibling.pid!, process.pid), sibling.pid!);
});
