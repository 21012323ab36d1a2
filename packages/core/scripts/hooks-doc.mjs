#!/usr/bin/env node
// Writes docs/hooks.md, the hook reference for plugin authors, from the declarations and doc
// tables in src/hooks.ts, so that the reference cannot drift from the code. The core's tests
// fail when the file is out of date: run `node packages/core/scripts/hooks-doc.mjs` after
// changing a hook.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HOOKS_SOURCE = fileURLToPath(new URL('../src/hooks.ts', import.meta.url));
export const HOOKS_DOC = fileURLToPath(new URL('../../../docs/hooks.md', import.meta.url));

const DECLARATION = /\/\*\*\n((?:\s*\*.*\n)+?)\s*\*\/\n\s*(\w+): new (SyncHook|AsyncSeriesHook)<\[(.*)\]>\(\[(.*)\]\),/g;

/** Parses every hook declaration of hooks.ts: name, kind, arguments and its doc table rows. */
export function parseHooks(source) {
  return [...source.matchAll(DECLARATION)].map(([, comment, name, kind, types, names]) => {
    const rows = Object.fromEntries(
      comment
        .split('\n')
        .map((line) => line.replace(/^\s*\*\s?/, ''))
        .filter((line) => line.startsWith('|') && !line.startsWith('| ---'))
        .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()))
        .map(([key, ...value]) => [key, value.join(' | ')]),
    );
    const argNames = names.split(',').map((n) => n.trim().replace(/'/g, ''));
    const argTypes = splitTopLevel(types);
    return { name, kind, args: argNames.map((arg, i) => `${arg}: ${argTypes[i]}`), rows };
  });
}

/** Splits a type list at the commas outside angle brackets: `A, Record<string, unknown>` is two types. */
function splitTopLevel(types) {
  const parts = [''];
  let depth = 0;
  for (const char of types) {
    if (char === '<') depth++;
    if (char === '>') depth--;
    if (char === ',' && depth === 0) parts.push('');
    else parts[parts.length - 1] += char;
  }
  return parts.map((part) => part.trim());
}

/** Renders the reference page from the parsed hooks. */
export function renderHooks(hooks) {
  const lines = [
    '# Hook reference',
    '',
    '<!-- Generated from packages/core/src/hooks.ts by packages/core/scripts/hooks-doc.mjs: edit those, not this file. -->',
    '',
    'Every tap runs in the Node process that drives the container, in the host\'s namespaces. A tap',
    'that must act inside the container joins its namespaces through /proc/PID/ns (see',
    '`runInNamespaces`); work in the child between clone and exec is never a tap but a step added',
    'in `plan` (see [plugins.md](plugins.md)). Synchronous hooks take `tap`; asynchronous ones take',
    '`tap` or `tapPromise`. Whatever a tap throws is wrapped once, naming the hook and the plugin.',
    '',
    '| hook | kind | arguments | previous |',
    '| ---- | ---- | --------- | -------- |',
  ];
  hooks.forEach((hook, i) => lines.push(`| [${hook.name}](#${hook.name.toLowerCase()}) | ${hook.kind} | ${hook.args.join(', ')} | ${previous(hooks, i)} |`));
  for (const [i, hook] of hooks.entries()) {
    lines.push('', `## ${hook.name}`, '', `\`${hook.kind}\`, arguments \`(${hook.args.join(', ')})\`.`, '');
    lines.push('| | |', '| --- | --- |');
    for (const [key, value] of Object.entries(hook.rows)) if (key !== 'kind') lines.push(`| ${key} | ${value} |`);
    lines.push(`| previous | ${previous(hooks, i)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** Names the hooks whose `next` row names this one. */
function previous(hooks, index) {
  const name = hooks[index].name;
  const before = hooks.filter((hook) => new RegExp(`(^|[ ,])${name}([ ,]|$)`).test(hook.rows.next ?? '')).map((hook) => hook.name);
  return before.length > 0 ? before.join(', ') : 'none';
}

/** Returns the reference page for the hooks.ts on disk. */
export function generate() {
  return renderHooks(parseHooks(readFileSync(HOOKS_SOURCE, 'utf8')));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) writeFileSync(HOOKS_DOC, generate());
