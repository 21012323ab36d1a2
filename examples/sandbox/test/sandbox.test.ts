import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ensureFixtures } from '@bulkhead/testkit/fixtures';
import { sandboxRuntime, sandboxSpec } from '../src/sandbox.js';

const rootTest = process.getuid?.() === 0 ? test : test.skip;

/**
 * Returns the memory limit file of a container's cgroup: memory.max on cgroup v2, or the v1
 * memory hierarchy's memory.limit_in_bytes. The hierarchy's mount may show only a subtree, so
 * the directory is searched for by the container id, below the bulkhead parent.
 */
function memoryLimitFile(id: string): string {
  for (const [root, file] of [['/sys/fs/cgroup/memory', 'memory.limit_in_bytes'], ['/sys/fs/cgroup', 'memory.max']] as const) {
    const found = findDirectory(root, `bulkhead/${id}`, 4);
    if (found !== undefined && existsSync(join(found, file))) return join(found, file);
  }
  throw new Error(`no memory cgroup of container ${id}`);
}

function findDirectory(dir: string, suffix: string, depth: number): string | undefined {
  if (dir.endsWith(`/${suffix}`)) return dir;
  if (depth === 0) return undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const found = findDirectory(join(dir, entry.name), suffix, depth - 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

test('the sandbox runtime is under 30 lines', (t) => {
  t.true(readFileSync(new URL('../../src/sandbox.ts', import.meta.url), 'utf8').trimEnd().split('\n').length < 30);
});

test('both READMEs show the sandbox code as it is', (t) => {
  const source = readFileSync(new URL('../../src/sandbox.ts', import.meta.url), 'utf8');
  for (const readme of ['../../README.md', '../../../../README.md']) {
    t.true(readFileSync(new URL(readme, import.meta.url), 'utf8').includes(source), `copy src/sandbox.ts into ${readme.slice(6)}`);
  }
});

rootTest('a sandboxed program has no network, no privileges, a read-only root and the limits', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-sandbox-'));
  const { busybox } = await ensureFixtures();
  spawnSync('cp', ['-a', busybox, join(dir, 'rootfs')]);
  const script = 'grep -E "^(Seccomp|CapEff|NoNewPrivs):" /proc/self/status; tail -n +3 /proc/net/dev | cut -d: -f1; touch /x 2>&1; unshare -U true 2>&1; echo done';
  const output = join(dir, 'output');
  const fd = openSync(output, 'w');
  let limit = '';
  const id = `sandbox-${process.pid}`;
  try {
    const status = await sandboxRuntime(join(dir, 'state')).run(sandboxSpec(join(dir, 'rootfs'), ['sh', '-c', script]), {
      id,
      stdio: ['ignore', fd, fd],
      onStart: () => (limit = readFileSync(memoryLimitFile(id), 'utf8').trim()),
    });
    t.deepEqual(status, { exited: true, code: 0 });
    const lines = readFileSync(output, 'utf8').split('\n');
    t.true(lines.includes('Seccomp:\t2'));
    t.true(lines.includes('CapEff:\t0000000000000000'));
    t.true(lines.includes('NoNewPrivs:\t1'));
    t.deepEqual(lines.filter((line) => /^\s*\w+$/.test(line) && line.trim() !== 'done').map((line) => line.trim()), ['lo'], 'the only interface is lo');
    t.true(lines.some((line) => line.includes('Read-only file system')));
    t.true(lines.some((line) => line.includes('Operation not permitted')), 'unshare -U is denied');
    t.is(limit, String(256 * 1024 * 1024));
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
