import test from 'ava';
import { OCI_VERSION, type ContainerSpec } from '@bulkhead/core';
import { CAPABILITY_NAMES, ownBoundingSet } from '@bulkhead/plugin-capabilities';
import { applyLevel, checkCompliance, DEFAULT_MASKED_PATHS, DEFAULT_RULES, levelSettings, parseLevel, parseRules, type Rules } from '../src/index.js';

const base = (): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  root: { path: 'rootfs', readonly: false },
  process: { args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
});

/** A spec that passes every default rule: what `bulkhead check` expects of a locked-down container. */
const compliant = (): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  root: { path: 'rootfs', readonly: true },
  process: { args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 }, noNewPrivileges: true, capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] } },
  linux: {
    namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type }) as { type: 'pid' }),
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    resources: { memory: { limit: 64 << 20 }, pids: { limit: 100 } },
    seccomp: { defaultAction: 'SCMP_ACT_ERRNO' },
  } as ContainerSpec['linux'],
});

test('strict level drops every capability', (t) => {
  const spec = applyLevel(base(), 'strict');
  t.deepEqual(spec.process!.capabilities, { bounding: [], effective: [], permitted: [] });
  t.true(spec.process!.noNewPrivileges);
  t.true(spec.root!.readonly);
  t.deepEqual(spec.linux!.namespaces!.map((ns) => ns.type), ['pid', 'mount', 'ipc', 'uts', 'cgroup']);
  t.deepEqual(spec.linux!.maskedPaths, [...DEFAULT_MASKED_PATHS]);
});

test('level leaves the input spec unchanged', (t) => {
  const spec = base();
  applyLevel(spec, 'strict');
  t.deepEqual(spec, base());
});

test('permissive level keeps a writable root', (t) => {
  const spec = applyLevel(base(), 'permissive');
  t.false(spec.root!.readonly);
  t.false(spec.process!.noNewPrivileges);
  t.true(spec.process!.capabilities!.bounding!.includes('CAP_CHOWN'));
  t.false(spec.process!.capabilities!.bounding!.includes('CAP_SYS_ADMIN'));
});

test('level never makes a read-only root writable', (t) => {
  const spec = base();
  spec.root!.readonly = true;
  t.true(applyLevel(spec, 'permissive').root!.readonly);
});

test('allowPrivileged gives the runtime capabilities', (t) => {
  const spec = applyLevel(base(), 'strict', { allowPrivileged: true });
  t.deepEqual(spec.process!.capabilities!.bounding, ownBoundingSet());
  t.true(spec.process!.capabilities!.bounding!.includes('CAP_SYS_ADMIN'));
  t.deepEqual(spec.linux!.maskedPaths, []);
  t.false(spec.process!.noNewPrivileges);
});

test('allowNested adds CAP_SYS_ADMIN only', (t) => {
  const settings = levelSettings('strict', { allowNested: true });
  t.true(settings.capabilities.includes('CAP_SYS_ADMIN'));
  t.false(settings.capabilities.includes('CAP_SYS_MODULE'));
  t.false(settings.noNewPrivileges);
  t.true(settings.readonlyRoot);
});

test('strict level loads the default seccomp profile', (t) => {
  const seccomp = (applyLevel(base(), 'strict').linux as { seccomp?: { defaultAction: string; syscalls: unknown[] } }).seccomp;
  t.is(seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
  t.true((seccomp?.syscalls.length ?? 0) > 0);
  t.deepEqual(checkCompliance(applyLevel(base(), 'strict')).filter((v) => v.rule === 'seccomp'), []);
});

test('allowNested and permissive drop the seccomp profile', (t) => {
  t.is((applyLevel(base(), 'strict', { allowNested: true }).linux as { seccomp?: unknown }).seccomp, undefined);
  t.is((applyLevel(base(), 'permissive').linux as { seccomp?: unknown }).seccomp, undefined);
});

test('level names parse in any case', (t) => {
  t.is(parseLevel('STRICT'), 'strict');
  t.is(parseLevel('Moderate'), 'moderate');
  t.is(parseLevel('paranoid'), undefined);
});

test('compliant spec passes the default rules', (t) => {
  t.deepEqual(checkCompliance(compliant()), []);
});

test('privileged spec is flagged', (t) => {
  const spec = compliant();
  const all = [...CAPABILITY_NAMES];
  spec.process!.capabilities = { bounding: all, effective: all, permitted: all };
  const violations = checkCompliance(spec);
  t.deepEqual(violations.find((v) => v.rule === 'noPrivileged'), { rule: 'noPrivileged', path: 'process.capabilities.bounding', message: 'contains every capability: the container is privileged' });
  t.true(violations.some((v) => v.rule === 'forbiddenCapabilities' && v.path === `process.capabilities.bounding[${CAPABILITY_NAMES.indexOf('CAP_SYS_ADMIN')}]`));
});

test('root without capabilities is privileged', (t) => {
  const spec = compliant();
  delete spec.process!.capabilities;
  t.deepEqual(
    checkCompliance(spec).map((v) => v.path),
    ['process.capabilities'],
  );
});

test('each default rule reports its path', (t) => {
  const spec = base();
  const paths = checkCompliance(spec).map((v) => `${v.rule} ${v.path}`);
  t.deepEqual(paths, [
    'noPrivileged process.capabilities',
    'readonlyRoot root.readonly',
    'namespaces linux.namespaces',
    'namespaces linux.namespaces',
    'namespaces linux.namespaces',
    'seccomp linux.seccomp',
    'memoryLimit linux.resources.memory.limit',
    'pidsLimit linux.resources.pids.limit',
    'noNewPrivileges process.noNewPrivileges',
    ...DEFAULT_MASKED_PATHS.map(() => 'maskedPaths linux.maskedPaths'),
  ]);
});

test('joined namespace is not the container own', (t) => {
  const spec = compliant();
  spec.linux!.namespaces![4] = { type: 'network', path: '/proc/1/ns/net' };
  t.deepEqual(checkCompliance(spec), [{ rule: 'namespaces', path: 'linux.namespaces[4].path', message: 'the network namespace is joined from /proc/1/ns/net, not the container\'s own' }]);
});

test('seccomp allowing by default is flagged', (t) => {
  const spec = compliant();
  (spec.linux as { seccomp: unknown }).seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
  t.deepEqual(checkCompliance(spec).map((v) => v.path), ['linux.seccomp.defaultAction']);
});

test('rules file replaces defaults', (t) => {
  const rules = parseRules({ rules: { seccomp: false, nonRootUser: true, allowedCapabilities: ['CAP_CHOWN'] } });
  t.false(rules.seccomp);
  t.true(rules.nonRootUser);
  t.deepEqual(rules.allowedCapabilities, ['CAP_CHOWN']);
  t.deepEqual(rules.namespaces, DEFAULT_RULES.namespaces);
  const spec = compliant();
  delete (spec.linux as { seccomp?: unknown }).seccomp;
  t.deepEqual(
    checkCompliance(spec, rules).map((v) => `${v.rule} ${v.path}`),
    ['allowedCapabilities process.capabilities.bounding[0]', 'allowedCapabilities process.capabilities.effective[0]', 'allowedCapabilities process.capabilities.permitted[0]', 'nonRootUser process.user.uid'],
  );
});

const badRules: [string, unknown, string][] = [
  ['not an object', [], 'rules: must be a JSON object'],
  ['no rules key', {}, 'rules.rules: must be an object of rule names to values'],
  ['unknown rule', { rules: { noFun: true } }, 'rules.rules.noFun: unknown rule'],
  ['list for a switch', { rules: { seccomp: ['x'] } }, 'rules.rules.seccomp: must be true or false'],
  ['number for a list', { rules: { namespaces: 3 } }, 'rules.rules.namespaces: must be true, false or a list of strings'],
];
for (const [name, document, message] of badRules) {
  test(`rules file rejects ${name}`, (t) => {
    const error = t.throws(() => parseRules(document));
    t.true(error.message.startsWith(message), error.message);
  });
}

test('rule turned off reports nothing', (t) => {
  const rules: Rules = { ...DEFAULT_RULES, readonlyRoot: false };
  const spec = compliant();
  spec.root!.readonly = false;
  t.deepEqual(checkCompliance(spec, rules), []);
});
