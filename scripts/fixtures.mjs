#!/usr/bin/env node
// Builds the cached root filesystems of the test suites and prints their paths as JSON. The
// recipes live in @bulkhead/testkit, so that plugins outside this repository build the same ones.
import { pathToFileURL } from 'node:url';
import { main } from '@bulkhead/testkit/fixtures';

export { ensureFixtures } from '@bulkhead/testkit/fixtures';

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
