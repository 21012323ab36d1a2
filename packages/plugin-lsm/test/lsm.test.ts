import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { OCI_VERSION, Runtime, type ContainerSpec, type Plugin, type Process } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { lsmPlugin, PLUGIN_NAME, readAppArmorProfiles, readLsmStatus } from '../src/index.js';

/** A directory laid out as securityfs and /proc are, with the LSMs and AppArmor profiles a test requests. */
function fakeKernel(t: { teardown(fn: () => void): void }, options: { lsms?: string[]; profiles?: string[]; apparmorAttrDir?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'bulkhead-lsm-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const securityfs = join(root, 'security');
  mkdirSync(join(securityfs, 'apparmor'), { recursive: true });
  if (options.lsms !== undefined) writeFileSync(join(securityfs, 'lsm'), options.lsms.join(','));
  if (options.profiles !== undefined) writeFileSync(join(securityfs, 'apparmor', 'profiles'), options.profiles.map((line) => `${line}\n`).join(''));
  const proc = join(root, 'proc');
  mkdirSync(join(proc, 'self', 'attr', options.apparmorAttrDir === false ? '' : 'apparmor'), { recursive: true });
  if (options.apparmorAttrDir !== false) writeFileSync(join(proc, 'self', 'attr', 'apparmor', 'exec'), '');
  return { securityfs, proc };
}

const PROC_MOUNT = { destination: '/proc', type: 'proc', source: 'proc' };

/** Plans mounts the way the mount plugin does, so the mount label has steps to change. */
function mountsPlugin(): Plugin {
  return {
    name: 'test-mounts',
    core: '^0.1.0',
    owns: { fields: ['mounts'] },
    apply({ hooks }) {
      hooks.plan.tap((plan, { spec }) => {
        for (const mount of spec.mounts ?? []) {
          const data = mount.type === 'tmpfs' ? 'mode=755' : null;
          plan.add('test-mounts', 'filesystem', { op: 'mount', source: mount.source ?? null, target: { path: mount.destination, root: 'rootfs' }, fstype: mount.type ?? null, flags: [], data, create: 'directory' });
        }
      });
    },
  };
}

const spec = (process: Partial<Process>, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args: ['true'], cwd: '/', ...process },
  mounts: [PROC_MOUNT],
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
  ...extra,
});

const runtime = (kernel: { securityfs: string; proc: string }) => new Runtime().use(namespacesPlugin()).use(mountsPlugin()).use(lsmPlugin(kernel));

const lsmSteps = (kernel: { securityfs: string; proc: string }, value: ContainerSpec) =>
  runtime(kernel)
    .describe(value)
    .steps()
    .filter((s) => s.plugin === PLUGIN_NAME)
    .map((s) => ({ phase: s.phase, step: s.step }));

test('apparmor profile becomes an exec attr write', (t) => {
  const kernel = fakeKernel(t, { lsms: ['capability', 'apparmor'], profiles: ['bulkhead-test (enforce)'] });
  t.deepEqual(lsmSteps(kernel, spec({ apparmorProfile: 'bulkhead-test' })), [
    { phase: 'privileges', step: { op: 'write-file', target: { path: '/proc/self/attr/apparmor/exec' }, data: 'exec bulkhead-test' } },
  ]);
});

test('apparmor uses attr/exec on older kernels', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor'], profiles: ['bulkhead-test (enforce)'], apparmorAttrDir: false });
  const [step] = lsmSteps(kernel, spec({ apparmorProfile: 'bulkhead-test' }));
  t.deepEqual(step?.step, { op: 'write-file', target: { path: '/proc/self/attr/exec' }, data: 'exec bulkhead-test' });
});

test('apparmor profile not loaded is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor'], profiles: ['other (complain)'] });
  t.throws(() => runtime(kernel).validate(spec({ apparmorProfile: 'bulkhead-test' })), {
    message: 'process.apparmorProfile: AppArmor profile "bulkhead-test" is not loaded in the kernel: load it with apparmor_parser -r FILE first',
  });
});

test('apparmor unconfined needs no loaded profile', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor'], profiles: [] });
  t.is(lsmSteps(kernel, spec({ apparmorProfile: 'unconfined' })).length, 1);
});

test('apparmor without the LSM is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['capability', 'selinux'] });
  t.throws(() => runtime(kernel).validate(spec({ apparmorProfile: 'bulkhead-test' })), {
    message: 'process.apparmorProfile: needs the apparmor LSM, which the running kernel does not have (active LSMs: capability,selinux)',
  });
});

test('missing lsm file is reported as the reason', (t) => {
  const kernel = fakeKernel(t, {});
  const error = t.throws(() => runtime(kernel).validate(spec({ apparmorProfile: 'bulkhead-test' })));
  t.regex(error.message, /^process\.apparmorProfile: needs the apparmor LSM, which the running kernel does not have \(.*\/security\/lsm does not exist: securityfs is not mounted at .*\/security, or the kernel is older than 4\.15\)$/);
});

test('unreadable profiles file is reported', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor'] });
  t.throws(() => runtime(kernel).validate(spec({ apparmorProfile: 'bulkhead-test' })), { message: /^process\.apparmorProfile: cannot check that AppArmor profile "bulkhead-test" is loaded: reading .*apparmor\/profiles failed with ENOENT$/ });
});

test('apparmor profile with a line break is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor'], profiles: ['a (enforce)'] });
  t.throws(() => runtime(kernel).validate(spec({ apparmorProfile: 'a\nexec b' })), { message: /^process\.apparmorProfile: invalid AppArmor profile name/ });
});

test('selinux label becomes an exec attr write', (t) => {
  const kernel = fakeKernel(t, { lsms: ['capability', 'selinux'] });
  t.deepEqual(lsmSteps(kernel, spec({ selinuxLabel: 'system_u:system_r:container_t:s0:c1,c2' })), [
    { phase: 'privileges', step: { op: 'write-file', target: { path: '/proc/self/attr/exec' }, data: 'system_u:system_r:container_t:s0:c1,c2' } },
  ]);
});

test('selinux without the LSM is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['capability', 'apparmor'] });
  t.throws(() => runtime(kernel).validate(spec({ selinuxLabel: 'system_u:system_r:container_t:s0' })), {
    message: 'process.selinuxLabel: needs the selinux LSM, which the running kernel does not have (active LSMs: capability,apparmor)',
  });
});

test('selinux label of the wrong form is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['selinux'] });
  t.throws(() => runtime(kernel).validate(spec({ selinuxLabel: 'container_t' })), { message: 'process.selinuxLabel: invalid SELinux context "container_t": expected user:role:type or user:role:type:level' });
});

test('process label without a proc mount is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor'], profiles: ['p (enforce)'] });
  t.throws(() => runtime(kernel).validate(spec({ apparmorProfile: 'p' }, { mounts: [] })), {
    message: 'process.apparmorProfile: needs a mount at /proc in the container, because the label is set through /proc/self/attr right before exec',
  });
});

test('mount label goes into tmpfs, mqueue and devpts mounts', (t) => {
  const kernel = fakeKernel(t, { lsms: ['selinux'] });
  const mounts = [PROC_MOUNT, { destination: '/dev', type: 'tmpfs', source: 'tmpfs' }, { destination: '/dev/pts', type: 'devpts', source: 'devpts' }, { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue' }, { destination: '/data', type: 'bind', source: '/srv' }];
  const steps = runtime(kernel)
    .describe(spec({}, { mounts, linux: { namespaces: [{ type: 'mount' }], mountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' } }))
    .steps()
    .flatMap((s) => (s.step.op === 'mount' ? [[s.step.target.path, s.step.data]] : []));
  const context = 'context="system_u:object_r:container_file_t:s0:c1,c2"';
  t.deepEqual(steps, [
    ['/proc', null],
    ['/dev', `mode=755,${context}`],
    ['/dev/pts', context],
    ['/dev/mqueue', context],
    ['/data', null],
  ]);
});

test('mount label keeps a context the mount names', (t) => {
  const kernel = fakeKernel(t, { lsms: ['selinux'] });
  const plugin: Plugin = {
    name: 'test-context',
    core: '^0.1.0',
    apply({ hooks }) {
      hooks.plan.tap((plan) => plan.add('test-context', 'filesystem', { op: 'mount', source: 'tmpfs', target: { path: '/run' }, fstype: 'tmpfs', flags: [], data: 'context="a:b:c"', create: 'none' }));
    },
  };
  const plan = new Runtime().use(namespacesPlugin()).use(mountsPlugin()).use(plugin).use(lsmPlugin(kernel)).describe(spec({}, { linux: { mountLabel: 'x:y:z' } }));
  t.deepEqual(plan.steps().flatMap((s) => (s.step.op === 'mount' && s.step.fstype === 'tmpfs' ? [s.step.data] : [])), ['context="a:b:c"']);
});

test('mount label before the mounts are planned fails', (t) => {
  const kernel = fakeKernel(t, { lsms: ['selinux'] });
  const early = new Runtime().use(namespacesPlugin()).use(lsmPlugin(kernel)).use(mountsPlugin());
  const error = t.throws(() => early.describe(spec({}, { mounts: [{ destination: '/dev', type: 'tmpfs' }], linux: { mountLabel: 'x:y:z' } })));
  t.regex(error.message, /linux\.mountLabel: the plan has no tmpfs, mqueue or devpts mount to label: use @bulkhead\/plugin-lsm after the plugin that mounts them/);
});

test('mount label with a quote is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['selinux'] });
  t.throws(() => runtime(kernel).validate(spec({}, { linux: { mountLabel: 'a:b:c",size=1' } })), { message: /^linux\.mountLabel: must not contain a double quote/ });
});

test('mount label without selinux is rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor'] });
  t.throws(() => runtime(kernel).validate(spec({}, { linux: { mountLabel: 'a:b:c' } })), { message: 'linux.mountLabel: needs the selinux LSM, which the running kernel does not have (active LSMs: apparmor)' });
});

test('empty labels ask for nothing', (t) => {
  const kernel = fakeKernel(t, { lsms: [] });
  t.deepEqual(lsmSteps(kernel, spec({ apparmorProfile: '', selinuxLabel: '' }, { linux: { mountLabel: '' } })), []);
});

test('profiles file names with spaces and modes', (t) => {
  const kernel = fakeKernel(t, { profiles: ['/usr/bin/man (enforce)', 'name with spaces (complain)', 'docker-default (enforce)', 'broken line'] });
  t.deepEqual([...readAppArmorProfiles(kernel.securityfs)], ['/usr/bin/man', 'name with spaces', 'docker-default']);
});

// The real kernel: this host's answer decides what the spec gets. A kernel without AppArmor
// rejects the profile naming the LSM; one with it accepts "unconfined", which is always loaded.
test('real kernel decides apparmor support', (t) => {
  const status = readLsmStatus();
  const real = new Runtime().use(namespacesPlugin()).use(mountsPlugin()).use(lsmPlugin());
  if (status.active.includes('apparmor')) {
    t.notThrows(() => real.validate(spec({ apparmorProfile: 'unconfined' })));
  } else {
    t.throws(() => real.validate(spec({ apparmorProfile: 'unconfined' })), { message: /^process\.apparmorProfile: needs the apparmor LSM, which the running kernel does not have \(/ });
  }
});

test('labels of the wrong type are rejected', (t) => {
  const kernel = fakeKernel(t, { lsms: ['apparmor', 'selinux'] });
  const bad = { ...spec({}), process: { args: ['true'], cwd: '/', apparmorProfile: 5 }, linux: { mountLabel: ['a:b:c'] } } as unknown as ContainerSpec;
  t.throws(() => runtime(kernel).validate(bad), { message: 'process.apparmorProfile: must be a string; linux.mountLabel: must be a string' });
});
