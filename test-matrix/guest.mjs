#!/usr/bin/env node
// Runs inside a test VM (or any machine): probes the kernel's features, then runs each
// requested suite whose requirements are met, writing <suite>.tap and results.json to
// the output folder. Used as the VM job by run.mjs and by the Vagrant provider.
//   node test-matrix/guest.mjs --suites core,cli --out DIR
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { probe } from './probe.mjs';
import { unmetRequirement } from './lib/requirements.mjs';
import { summarizeTap } from './lib/tap.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SUITES = JSON.parse(fs.readFileSync(new URL('suites.json', import.meta.url), 'utf8'));

const uptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

/** Runs `bulkhead features --json`; falls back to probe.mjs when the command is missing or fails. */
function probeFeatures() {
  const cli = path.join(REPO, 'packages/cli/bin/bulkhead.mjs');
  const result = spawnSync(process.execPath, [cli, 'features', '--json'], { encoding: 'utf8', timeout: 120_000 });
  if (result.status === 0) {
    try {
      const all = JSON.parse(result.stdout);
      // The CLI prints an OCI features document; its kernel facts sit under one annotation key.
      return { source: 'bulkhead features --json', kernel: all['org.bulkhead.kernel'] ?? all, all };
    } catch {
      // Not JSON: fall through to the fallback probe.
    }
  }
  return { source: 'test-matrix/probe.mjs', kernel: probe() };
}

function describeMachine(features) {
  const local = probe();
  return { uid: process.getuid(), release: os.release(), cgroup: local.cgroup.mode, lsms: local.lsm, features: features.kernel };
}

/** Runs one suite with its TAP output going to the console and to DIR/<name>.tap. */
function runSuite(name, suite, outDir) {
  return new Promise((resolve) => {
    const tapFile = path.join(outDir, `${name}.tap`);
    const tap = fs.createWriteStream(tapFile);
    const started = Date.now();
    // Tests that poll for a condition wait ten times longer: code under TCG runs about that much slower.
    const env = { ...process.env, BULKHEAD_TEST_TIME_SCALE: '10' };
    const child = spawn(suite.command[0], suite.command.slice(1), { cwd: path.join(REPO, suite.dir), stdio: ['ignore', 'pipe', 'pipe'], env });
    child.stdout.on('data', (chunk) => { tap.write(chunk); process.stdout.write(chunk); });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    child.on('close', (code, signal) => {
      tap.end(() => {
        const counts = summarizeTap(fs.readFileSync(tapFile, 'utf8'));
        const passed = code === 0 && counts.failed === 0 && counts.total > 0;
        resolve({ name, status: passed ? 'pass' : 'fail', exitCode: code, signal, ...counts, seconds: (Date.now() - started) / 1000, reason: passed ? null : failureReason(code, signal, counts) });
      });
    });
  });
}

function failureReason(code, signal, counts) {
  if (signal) return `killed by ${signal}`;
  if (counts.failed) return `${counts.failed} of ${counts.total} tests failed`;
  if (counts.total === 0) return `no test ran (exit code ${code})`;
  // ava's TAP reporter can crash after a test times out, leaving a TAP stream with no failures.
  return `exit code ${code} with ${counts.passed} of ${counts.total} tests passed and none failed`;
}

async function main() {
  const { values } = parseArgs({ options: { suites: { type: 'string' }, out: { type: 'string' } } });
  if (!values.suites || !values.out) throw new Error('usage: guest.mjs --suites NAME[,NAME...] --out DIR');
  const names = values.suites.split(',');
  for (const name of names) if (!SUITES[name]) throw new Error(`guest: unknown suite "${name}": suites.json has ${Object.keys(SUITES).join(', ')}`);
  fs.mkdirSync(values.out, { recursive: true });

  const results = { release: os.release(), uptimeAtStart: uptime(), suites: [] };
  results.features = probeFeatures();
  const machine = describeMachine(results.features);
  results.cgroup = machine.cgroup;
  results.lsms = machine.lsms;

  for (const name of names) {
    const reason = unmetRequirement(SUITES[name].requires, machine);
    if (reason) {
      console.log(`bulkhead-matrix: suite ${name} skipped: ${reason}`);
      results.suites.push({ name, status: 'skip', reason });
      continue;
    }
    results.uptimeAtFirstTest ??= uptime();
    console.log(`bulkhead-matrix: suite ${name} started at uptime ${uptime()}`);
    const result = await runSuite(name, SUITES[name], values.out);
    console.log(`bulkhead-matrix: suite ${name} ${result.status} in ${result.seconds.toFixed(1)} s`);
    results.suites.push(result);
  }

  results.uptimeAtEnd = uptime();
  fs.writeFileSync(path.join(values.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  return results.suites.some((suite) => suite.status === 'fail') ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (error) => {
  console.error(`bulkhead-matrix: ${error.message}`);
  process.exitCode = 2;
});
