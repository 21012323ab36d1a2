#!/usr/bin/env node
// `npm test`: the host's suites through nx, the unit tests of vm/, test-matrix/ and the API, then
// the CI cell of the kernel matrix, stopping at the first step that fails. nx prints each
// project's output where it ran, far from the end of a long log, so when a project fails this
// prints its failed tests and their details again at the very end.
import { spawn } from 'node:child_process';

const STEPS = [
  ['npx', ['nx', 'run-many', '-t', 'test', '--outputStyle=static', '--parallel=1']],
  ['node', ['--test', 'vm/test/', 'test-matrix/test/', 'test/']],
  ['npm', ['run', 'matrix', '--', '--ci']],
];

/** Runs a command with its output passed through, and returns its exit code and output. */
function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['inherit', 'pipe', 'pipe'] });
    const chunks = [];
    for (const [stream, sink] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
      stream.on('data', (chunk) => {
        sink.write(chunk);
        chunks.push(chunk);
      });
    }
    child.on('close', (code, signal) => resolve({ code: code ?? 128, signal, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

// eslint-disable-next-line no-control-regex
const stripColors = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');

/** Returns the lines of ava's test list that belong to failed tests: the ✘ line and its logs. */
function failedTests(list) {
  let failed = false;
  return list.filter((line) => {
    if (/[✔✘]/.test(line)) failed = line.includes('✘');
    return failed;
  });
}

/**
 * Returns, for each project in nx's "Failed tasks" list, the part of its test output that explains
 * the failure. That is the failed tests with their logs, then everything from ava's first
 * separator line on: the details of each failure and the totals.
 */
export function failureDetails(nxOutput) {
  const text = stripColors(nxOutput);
  const failed = [...text.matchAll(/^- (\S+):test$/gm)].map((match) => match[1]);
  return failed.map((project) => {
    const start = text.lastIndexOf(`> nx run ${project}:test`);
    if (start < 0) return `${project}: its output was not found`;
    const next = text.indexOf('> nx run ', start + 1);
    const lines = text.slice(start, next < 0 ? undefined : next).split('\n');
    const separator = lines.findIndex((line) => line.trim() === '─');
    const details = separator < 0 ? lines.slice(-80) : [...failedTests(lines.slice(0, separator)), ...lines.slice(separator)];
    return [`${project}:`, ...details].join('\n').trimEnd();
  });
}

async function main() {
  for (const [index, [command, args]] of STEPS.entries()) {
    const { code, signal, output } = await run(command, args);
    if (code === 0) continue;
    console.error(`\n--- npm test: \`${[command, ...args].join(' ')}\` failed with ${signal ?? `exit code ${code}`}`);
    if (index === 0) for (const details of failureDetails(output)) console.error(`\n${details}`);
    process.exit(code || 1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
