#!/usr/bin/env node
import { main } from '../fixtures.mjs';

await main();
