import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { describeStep, OCI_VERSION, Runtime, StepError, type ContainerSpec, type Rlimit } from '@bulkhead/core';
import { PLUGIN_NAME, RLIMIT_RESOURCES, rlimitPlugin } from '../src/index.js';
import { namespacesPlugin } from '@bulkhead/core/testing';

const spec = (rlimits: Rlimit[], args = ['true']): ContainerSpec => ({
  ociVersion: OCI_VERSION,
  process: { args, cwd: '/', env: ['PATH=/usr/bin:/bin'], rlimits },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
});

// The pid and mount namespaces, so that the containers of these tests need no other plugin.
const namespaces = namespacesPlugin();

const runtime = (stateRoot?: string) => new Runtime(stateRoot === undefined ? {} : { stateRoot }).use(namespaces).use(rlimitPlugin());

test('rlimits become setrlimit steps in the limits phase', (t) => {
  const steps = runtime().describe(spec([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }, { type: 'RLIMIT_CORE', soft: 0, hard: -1 }])).steps();
  t.deepEqual(
    steps.filter((s) => s.plugin === PLUGIN_NAME).map((s) => [s.phase, s.step]),
    [
      ['limits', { op: 'setrlimit', resource: 7, soft: 1024, hard: 4096, name: 'RLIMIT_NOFILE' }],
      ['limits', { op: 'setrlimit', resource: 4, soft: 0, hard: -1, name: 'RLIMIT_CORE' }],
    ],
  );
});

test('largest uint64 means unlimited', (t) => {
  // JSON.parse, as for a config.json, turns 18446744073709551615 into 2**64.
  const rlimits = JSON.parse('[{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615}]') as Rlimit[];
  const step = runtime().describe(spec(rlimits)).steps().find((s) => s.plugin === PLUGIN_NAME)!.step;
  t.like(step, { soft: -1, hard: -1 });
});

const invalid: [string, Rlimit[], string][] = [
  ['unknown type', [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }], 'process.rlimits[0].type: unknown rlimit type "RLIMIT_FOO"'],
  ['lowercase type', [{ type: 'rlimit_nofile', soft: 1, hard: 1 }], 'process.rlimits[0].type: unknown rlimit type "rlimit_nofile"'],
  ['duplicate type', [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }], 'process.rlimits[1].type: duplicate RLIMIT_NOFILE'],
  ['soft above hard', [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }], 'process.rlimits[0].soft: must not exceed the hard limit: soft 2048 is above hard 1024'],
  ['unlimited soft, finite hard', [{ type: 'RLIMIT_CORE', soft: -1, hard: 0 }], 'process.rlimits[0].soft: must not exceed the hard limit'],
  ['negative value', [{ type: 'RLIMIT_CORE', soft: -2, hard: 0 }], 'process.rlimits[0].soft: must be a non-negative integer, or -1 for unlimited; got -2'],
  ['fractional value', [{ type: 'RLIMIT_CORE', soft: 1.5, hard: 2 }], 'process.rlimits[0].soft: must be an integer'],
];
for (const [name, rlimits, message] of invalid) {
  test(`rejects ${name}`, (t) => {
    const error = t.throws(() => runtime().validate(spec(rlimits)));
    t.true(error.message.startsWith(message), error.message);
  });
}

test('resource numbers match the kernel headers', (t) => {
  const header = '/usr/include/asm-generic/resource.h';
  if (!existsSync(header)) {
    t.pass(`${header} is missing: install the Linux API headers to run this check`);
    return;
  }
  const text = readFileSync(header, 'utf8');
  for (const [name, number] of Object.entries(RLIMIT_RESOURCES)) {
    t.regex(text, new RegExp(`#\\s*define ${name}\\s+${number}\\b`), name);
  }
});

test('setrlimit step is described by its rlimit name', (t) => {
  const step = runtime().describe(spec([{ type: 'RLIMIT_STACK', soft: 8388608, hard: -1 }])).steps().find((s) => s.plugin === PLUGIN_NAME)!.step;
  t.is(describeStep(step), 'setrlimit RLIMIT_STACK soft 8388608 hard unlimited');
});

// Real containers, as root.
const rootTest = process.getuid?.() === 0 ? test.serial : test.skip;

function stateRoot(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-rlimit-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

rootTest('container process has the requested limits', async (t) => {
  const out = join(stateRoot(t), 'limits');
  const status = await runtime(stateRoot(t)).run(spec([{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }], ['sh', '-c', `ulimit -Sn > ${out}; ulimit -Hn >> ${out}`]), { stdio: 'ignore' });
  t.deepEqual(status, { exited: true, code: 0 });
  t.is(readFileSync(out, 'utf8'), '100\n200\n');
});

rootTest('raising a hard limit without CAP_SYS_RESOURCE names the rlimit', async (t) => {
  const capabilities = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const CAP_SYS_RESOURCE = 24n;
  if ((capabilities >> CAP_SYS_RESOURCE) & 1n) {
    t.pass('this process has CAP_SYS_RESOURCE, so raising a hard limit succeeds');
    return;
  }
  const error = (await t.throwsAsync(runtime(stateRoot(t)).run(spec([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2 ** 40 }]), { stdio: 'ignore' }))) as StepError;
  t.true(error instanceof StepError);
  t.is(error.errnoName, 'EPERM');
  t.regex(error.message, /^setrlimit RLIMIT_NOFILE soft 1024 hard 1099511627776 \(step \d+, plugin @bulkhead\/plugin-rlimit\): EPERM/);
  t.regex(error.message, /raising the hard limit of RLIMIT_NOFILE needs CAP_SYS_RESOURCE/);
});
