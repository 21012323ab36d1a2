#!/usr/bin/env node
import { main } from '../dist/bulkhead.mjs';

process.exitCode = await main(process.argv.slice(2));
