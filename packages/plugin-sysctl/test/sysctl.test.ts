import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec, type Namespace } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { procSysPath, sysctlNamespace, sysctlPlugin } from '../src/index.js';

const runtime = () => new Runtime().use(namespacesPlugin(['ipc', 'mount'])).use(sysctlPlugin());

function spec(sysctl: Record<string, unknown>, namespaces: Namespace[] = [{ type: 'ipc' }, { type: 'mount' }]): ContainerSpec {
  return { ociVersion: OCI_VERSION, process: { args: ['true'], cwd: '/' }, linux: { namespaces, sysctl: sysctl as Record<string, string> } };
}

test('sysctl names map to /proc/sys files and namespaces', (t) => {
  t.is(procSysPath('net.ipv4.ping_group_range'), '/proc/sys/net/ipv4/ping_group_range');
  t.is(sysctlNamespace('net.ipv4.ip_forward'), 'network');
  t.is(sysctlNamespace('kernel.shmmax'), 'ipc');
  t.is(sysctlNamespace('fs.mqueue.msg_max'), 'ipc');
  t.is(sysctlNamespace('kernel.hostname'), 'uts');
  t.is(sysctlNamespace('kernel.panic'), undefined);
  t.is(sysctlNamespace('vm.overcommit_memory'), undefined);
});

test('plans one write per sysctl inside the root', (t) => {
  const steps = runtime().describe(spec({ 'kernel.shmmax': '65536', 'kernel.msgmax': '4096' })).steps().filter((s) => s.plugin === '@bulkhead/plugin-sysctl');
  t.deepEqual(steps.map((s) => [s.phase, s.step]), [
    ['filesystem', { op: 'write-file', target: { path: '/proc/sys/kernel/shmmax', root: 'rootfs' }, data: '65536' }],
    ['filesystem', { op: 'write-file', target: { path: '/proc/sys/kernel/msgmax', root: 'rootfs' }, data: '4096' }],
  ]);
});

test('writes to the current /proc without a new mount namespace', (t) => {
  const steps = new Runtime().use(namespacesPlugin(['ipc'])).use(sysctlPlugin()).describe(spec({ 'kernel.shmmax': '1' }, [{ type: 'ipc' }])).steps();
  t.deepEqual(steps.filter((s) => s.plugin === '@bulkhead/plugin-sysctl').map((s) => s.step), [{ op: 'write-file', target: { path: '/proc/sys/kernel/shmmax' }, data: '1' }]);
});

test('rejects host-wide and unowned sysctls naming each', (t) => {
  const error = t.throws(() => runtime().validate(spec({ 'kernel.panic': '1', 'net.ipv4.ip_forward': '1', '../x': '1' })));
  t.regex(error.message, /linux\.sysctl\.kernel\.panic: is not kept per namespace by the kernel, so setting it would change the host/);
  t.regex(error.message, /linux\.sysctl\.net\.ipv4\.ip_forward: needs a network namespace of the container's own/);
  t.regex(error.message, /linux\.sysctl\.\.\.\/x: invalid sysctl name/);
});

test('rejects a value that is not a string', (t) => {
  const error = t.throws(() => runtime().validate(spec({ 'kernel.shmmax': 1 })));
  t.regex(error.message, /linux\.sysctl\.kernel\.shmmax: must be a string/);
});

test('rejects the host namespace joined by path', (t) => {
  const error = t.throws(() => runtime().validate(spec({ 'kernel.shmmax': '1' }, [{ type: 'ipc', path: '/proc/self/ns/ipc' }, { type: 'mount' }])));
  t.regex(error.message, /linux\.sysctl\.kernel\.shmmax: the ipc namespace at \/proc\/self\/ns\/ipc is the host's/);
});
