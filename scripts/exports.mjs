#!/usr/bin/env node
// Lists the runtime exports of every workspace package, export path by export path, as the
// JSON kept in api/exports.json. test/exports.test.mjs compares the two, so that a change to the
// public API is a deliberate one: after such a change, run `npm run api:update` and commit the
// new api/exports.json with it. Types are not listed: TypeScript erases them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const INVENTORY = join(ROOT, 'api/exports.json');

/** Returns { "package/subpath": [sorted export names] } for every importable export path. */
export async function listExports() {
  const inventory = {};
  const { workspaces } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  for (const dir of workspaces) {
    const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      if (typeof target !== 'string' || !/\.m?js$/.test(target)) continue;
      const module = await import(pathToFileURL(join(ROOT, dir, target)).href);
      inventory[join(manifest.name, subpath)] = Object.keys(module).sort();
    }
  }
  return inventory;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(INVENTORY, `${JSON.stringify(await listExports(), null, 2)}\n`);
}
