import test from 'ava';
import { BulkheadError, ErrorCode, HookError, inheritFromInit, OCI_VERSION, Runtime, SpecError, UndoStack, type ContainerSpec, type Plugin, type PluginApi } from '../src/index.js';
import { RecordingSyscalls } from '../src/testing/index.js';

function plugin(name: string, overrides: Partial<Plugin> = {}): Plugin {
  return { name, core: '^0.1.0', apply() {}, ...overrides };
}

const spec = (extra: Partial<ContainerSpec> = {}): ContainerSpec => ({ ociVersion: OCI_VERSION, process: { args: ['true'], cwd: '/' }, ...extra });

test('plugins claiming one namespace are rejected with both names', (t) => {
  const runtime = new Runtime({ syscalls: new RecordingSyscalls() });
  runtime.use(plugin('first', { owns: { namespaces: ['pid'] } }));
  const error = t.throws(() => runtime.use(plugin('second', { owns: { namespaces: ['pid'] } })));
  t.is((error as BulkheadError).code, ErrorCode.PLUGIN_CONFLICT);
  t.regex(error.message, /first and second both claim the pid namespace/);
});

test('plugins claiming one spec field are rejected with both names', (t) => {
  const runtime = new Runtime();
  runtime.use(plugin('a', { owns: { fields: ['hostname'] } }));
  t.throws(() => runtime.use(plugin('b', { owns: { fields: ['hostname'] } })), { message: /a and b both claim the spec field hostname/ });
});

test('plugin for another core version is rejected', (t) => {
  t.throws(() => new Runtime().use(plugin('old', { core: '^9.0.0' })), { message: /plugin old: supports core \^9.0.0/ });
});

test('plugin without a name is rejected', (t) => {
  t.throws(() => new Runtime().use(plugin('')), { message: /has no name/ });
});

test('every validation problem is reported at once with its path', (t) => {
  const runtime = new Runtime();
  const bad = { ociVersion: OCI_VERSION, process: { args: [], cwd: 'relative', env: ['NOEQUALS'] } } as unknown as ContainerSpec;
  const error = t.throws(() => runtime.validate(bad)) as SpecError;
  t.is(error.code, ErrorCode.SPEC_INVALID);
  t.deepEqual(
    error.problems.map((p) => p.path),
    ['process.args', 'process.cwd', 'process.env[0]'],
  );
});

test('namespace without a plugin is a spec problem', (t) => {
  const runtime = new Runtime();
  const error = t.throws(() => runtime.validate(spec({ linux: { namespaces: [{ type: 'network' }] } }))) as SpecError;
  t.is(error.problems[0]!.path, 'linux.namespaces[0].type');
  t.regex(error.message, /no plugin of this runtime handles the network namespace/);
});

test('unknown and duplicate namespace types are spec problems', (t) => {
  const runtime = new Runtime().use(plugin('pid', { owns: { namespaces: ['pid'] } }));
  const namespaces = [{ type: 'pid' }, { type: 'pid' }, { type: 'bogus' }] as never;
  const error = t.throws(() => runtime.validate(spec({ linux: { namespaces } }))) as SpecError;
  t.deepEqual(
    error.problems.map((p) => p.message),
    ['duplicate pid namespace', 'unknown namespace type "bogus"; expected one of time, mount, cgroup, uts, ipc, user, pid, network'],
  );
});

test('plugin validate taps add problems', (t) => {
  const runtime = new Runtime().use(
    plugin('picky', {
      apply({ hooks }) {
        hooks.validate.tap((validation) => validation.problem('hostname', 'is not allowed'));
      },
    }),
  );
  t.throws(() => runtime.validate(spec()), { message: 'hostname: is not allowed' });
});

test('tap errors are wrapped once with hook and plugin', (t) => {
  const runtime = new Runtime({ syscalls: new RecordingSyscalls() }).use(
    plugin('broken', {
      apply({ hooks }) {
        hooks.plan.tap(() => {
          throw new Error('boom');
        });
      },
    }),
  );
  const error = t.throws(() => runtime.describe(spec())) as HookError;
  t.true(error instanceof HookError);
  t.is(error.hook, 'plan');
  t.is(error.plugin, 'broken');
  t.is(error.message, 'plan hook of plugin broken: boom');
});

test('plugin hooks are tap-only', (t) => {
  let hooks: Record<string, unknown> = {};
  new Runtime().use(plugin('look', { apply: (api) => void (hooks = api.hooks as never) }));
  t.deepEqual(Object.keys(hooks.plan as object), ['tap']);
  t.deepEqual(Object.keys(hooks.prepare as object).sort(), ['tap', 'tapPromise']);
  t.true(Object.isFrozen(hooks));
});

test('describe adds exec and chdir from the process', (t) => {
  const plan = new Runtime().describe(spec({ process: { args: ['echo', 'hi'], cwd: '/tmp', env: ['A=1'], user: { uid: 5, gid: 6, additionalGids: [7] } } }));
  const ops = plan.steps().map((s) => s.step.op);
  t.deepEqual(ops, ['barrier', 'setgroups', 'setresgid', 'setresuid', 'chdir', 'barrier', 'exec']);
  t.deepEqual(plan.steps().at(-1)!.step, { op: 'exec', file: 'echo', argv: ['echo', 'hi'], envp: ['A=1'] });
});

test('invalid container ids are rejected', (t) => {
  const runtime = new Runtime();
  for (const id of ['', '..', 'a/b', '-x', 'x'.repeat(129)]) {
    t.throws(() => runtime.describe(spec(), { id }), { message: /invalid container id/ }, id);
  }
});

test('undo stack unwinds newest first and collects failures', async (t) => {
  const undo = new UndoStack();
  const order: string[] = [];
  undo.defer('first', () => order.push('first'));
  undo.defer('second', () => {
    throw new Error('stuck');
  });
  undo.defer('third', async () => void order.push('third'));
  const errors = await undo.unwind();
  t.deepEqual(order, ['third', 'first']);
  t.deepEqual(
    errors.map((e) => e.message),
    ['second: stuck'],
  );
  t.deepEqual(await undo.unwind(), [], 'each undo runs once');
});

const ranges: [string, boolean][] = [
  ['^0.1.0', true],
  ['^0.1.1', false],
  ['^0.2.0', false],
  ['^0.0.1', false],
  ['^1.0.0', false],
  ['>=0.1.0 <0.2.0', true],
  ['0.1.x', true],
  ['~0.1.0', true],
  ['^0.0.x', false],
];

for (const [range, accepted] of ranges) {
  test(`core range ${range} is ${accepted ? 'accepted' : 'rejected'}`, (t) => {
    const use = () => new Runtime().use(plugin('ranged', { core: range }));
    if (accepted) t.notThrows(use);
    else t.throws(use, { message: /supports core/ });
  });
}

test('plan taps adjust a copy of the spec, not the caller object', (t) => {
  const adjusting = { name: 'env-adder', core: '^0.1.0', apply({ hooks }: PluginApi) {
    hooks.plan.tap((_plan, container) => container.spec.process!.env!.push('ADDED=1'));
  } };
  const spec: ContainerSpec = { ociVersion: OCI_VERSION, process: { args: ['true'], cwd: '/', env: ['PATH=/bin'] } };
  const steps = new Runtime().use(adjusting).describe(spec).steps();
  const exec = steps.find((s) => s.step.op === 'exec')!.step as { envp: string[] };
  t.deepEqual(exec.envp, ['PATH=/bin', 'ADDED=1']);
  t.deepEqual(spec.process!.env, ['PATH=/bin']);
});

test('exec process inherits unset fields from init', (t) => {
  const runtime = new Runtime();
  let container: Parameters<typeof inheritFromInit>[0] | undefined;
  runtime.use({ name: 'grab', core: '^0.1.0', owns: { fields: ['process.noNewPrivileges', 'process.apparmorProfile'] }, apply({ hooks }: PluginApi) {
    hooks.plan.tap((_plan, c) => (container = c));
  } });
  runtime.describe({ ociVersion: OCI_VERSION, process: { args: ['true'], cwd: '/', noNewPrivileges: true, apparmorProfile: 'init' } });
  const merged = inheritFromInit(container!, { args: ['sh'], cwd: '/', apparmorProfile: 'own' }, ['noNewPrivileges', 'apparmorProfile', 'selinuxLabel']);
  t.is(merged.noNewPrivileges, true);
  t.is(merged.apparmorProfile, 'own');
  t.false('selinuxLabel' in merged);
});
