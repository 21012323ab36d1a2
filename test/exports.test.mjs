// Fails when a package's public exports change without api/exports.json changing with them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import { INVENTORY, listExports } from '../scripts/exports.mjs';

test('public exports match api/exports.json', async () => {
  const recorded = JSON.parse(readFileSync(INVENTORY, 'utf8'));
  assert.deepEqual(await listExports(), recorded, 'the public API changed: if that was meant, run npm run api:update and commit api/exports.json');
});
