import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CompileCache, compileProfile, defaultProfile, type LinuxSeccomp } from '../src/index.js';

const context = { capabilities: [], kernelRelease: '6.1.0' };
const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
/** A valid program that differs from the profile's: one instruction, RET ALLOW. */
const PLANTED = Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]);

function cacheDir(t: { teardown(fn: () => void): void }): string {
  const parent = mkdtempSync(join(tmpdir(), 'bulkhead-seccomp-cache-test-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  return join(parent, 'cache');
}

/** Replaces the program in the cache file of `key` with PLANTED, keeping the file's mode. */
function plant(dir: string, key: string): void {
  const path = join(dir, key);
  const entry = JSON.parse(readFileSync(path, 'utf8')) as { bpf: string };
  writeFileSync(path, JSON.stringify({ ...entry, bpf: PLANTED.toString('base64') }));
}

test('cache returns what the compiler returns', (t) => {
  const cache = new CompileCache();
  const first = cache.compile(defaultProfile(), context);
  t.deepEqual(first, compileProfile(defaultProfile(), context));
  t.is(cache.compile(defaultProfile(), context), first, 'the second call is served from memory');
});

test('cache key covers profile, caps and kernel', (t) => {
  const cache = new CompileCache();
  const key = cache.keyOf(profile, context);
  t.regex(key, /^[0-9a-f]{64}$/);
  t.is(cache.keyOf(structuredClone(profile), context), key);
  t.not(cache.keyOf({ ...profile, defaultErrnoRet: 2 } as LinuxSeccomp, context), key);
  t.not(cache.keyOf(profile, { ...context, capabilities: ['CAP_SYS_ADMIN'] }), key);
  t.not(cache.keyOf(profile, { ...context, kernelRelease: '6.2.0' }), key);
  t.is(cache.keyOf(profile, { ...context, capabilities: ['CAP_A', 'CAP_B'] }), cache.keyOf(profile, { ...context, capabilities: ['CAP_B', 'CAP_A'] }));
});

test('disk cache is private and read back', (t) => {
  const dir = cacheDir(t);
  const compiled = new CompileCache(dir).compile(profile, context);
  const key = new CompileCache().keyOf(profile, context);
  t.deepEqual(readdirSync(dir), [key]);
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(statSync(join(dir, key)).mode & 0o777, 0o600);
  t.deepEqual(new CompileCache(dir).compile(profile, context), compiled);
  plant(dir, key);
  t.deepEqual(new CompileCache(dir).compile(profile, context).bpf, PLANTED, 'a new process reads the file');
});

test('disk cache ignores writable or foreign entries', (t) => {
  const dir = cacheDir(t);
  const compiled = new CompileCache(dir).compile(profile, context);
  const key = new CompileCache().keyOf(profile, context);

  plant(dir, key);
  chmodSync(join(dir, key), 0o622);
  t.deepEqual(new CompileCache(dir).compile(profile, context).bpf, compiled.bpf, 'a file others can write');

  plant(dir, key);
  chmodSync(dir, 0o777);
  t.deepEqual(new CompileCache(dir).compile(profile, context).bpf, compiled.bpf, 'a directory others can write');
  chmodSync(dir, 0o700);
  t.deepEqual(new CompileCache(dir).compile(profile, context).bpf, PLANTED, 'the planted entry was there all along');

  const entry = JSON.parse(readFileSync(join(dir, key), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, key), JSON.stringify({ ...entry, key: '0'.repeat(64) }));
  t.deepEqual(new CompileCache(dir).compile(profile, context).bpf, compiled.bpf, 'an entry for another key');
  writeFileSync(join(dir, key), JSON.stringify({ ...entry, bpf: 'AAAA' }));
  t.deepEqual(new CompileCache(dir).compile(profile, context).bpf, compiled.bpf, 'a program of partial instructions');
});

test('disk cache ignores a symlinked directory', (t) => {
  const dir = cacheDir(t);
  new CompileCache(dir).compile(profile, context);
  const key = new CompileCache().keyOf(profile, context);
  plant(dir, key);
  const link = `${dir}-link`;
  symlinkSync(dir, link);
  t.notDeepEqual(new CompileCache(link).compile(profile, context).bpf, PLANTED);
});
