import { readFileSync } from 'node:fs';
import test from 'ava';

interface HooksDoc {
  HOOKS_DOC: string;
  generate(): string;
  parseHooks(source: string): { name: string }[];
}

const hooksDoc = (await import(new URL('../../scripts/hooks-doc.mjs', import.meta.url).href)) as HooksDoc;

test('docs/hooks.md matches hooks.ts', (t) => {
  t.is(readFileSync(hooksDoc.HOOKS_DOC, 'utf8'), hooksDoc.generate(), 'run node packages/core/scripts/hooks-doc.mjs');
});

test('hook reference keeps generic argument types whole', (t) => {
  const [hook] = hooksDoc.parseHooks(`
    /**
     * | next | none |
     */
    update: new AsyncSeriesHook<[Container, Record<string, unknown>]>(['container', 'resources']),`) as unknown as { args: string[] }[];
  t.deepEqual(hook!.args, ['container: Container', 'resources: Record<string, unknown>']);
});

test('hook reference lists every hook', async (t) => {
  const { createHooks } = await import('../src/hooks.js');
  const source = readFileSync(new URL('../../src/hooks.ts', import.meta.url), 'utf8');
  t.deepEqual(hooksDoc.parseHooks(source).map((hook) => hook.name), Object.keys(createHooks()));
});
