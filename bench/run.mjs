#!/usr/bin/env node
// Times a container that runs /bin/true on the busybox fixture with bulkhead,
// runc and bubblewrap, interleaved round by round so that drift in machine
// load hits every case alike. See bench/README.md for what each case measures.
// Run it as root, because the runc case runs rootful containers and building
// the fixtures needs root.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { ensureFixtures } from '../scripts/fixtures.mjs';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BULKHEAD_BIN = path.join(REPO_ROOT, 'node_modules/.bin/bulkhead');
const RESULTS_FILE = path.join(REPO_ROOT, 'bench/results/latest.json');
const WARM_WORKER_FLAG = '--warm-worker';

const USAGE = `usage: npm run bench -- [--iterations N] [--warmup N]
  --iterations N  timed rounds; each round runs every case once (default 30)
  --warmup N      untimed rounds before the timed ones (default 1)`;

// NODE_EXTRA_CA_CERTS makes every Node process parse a CA bundle at startup
// (`node -e 0` took 106 ms with it and 44 ms without, by hyperfine on a
// 2-core VM), which would count against bulkhead's CLI but not runc or bwrap.
const CHILD_ENV = { ...process.env };
delete CHILD_ENV.NODE_EXTRA_CA_CERTS;

// ---------------------------------------------------------------------------
// Warm case: many containers from one long-lived Node process.

// Returns a function that runs /bin/true in rootfs once and resolves when
// the container has exited. Throw to skip the warm case with that message.
async function createWarmRunner(rootfs) {
  const { createRuntime, defaultSpec } = await import('@bulkhead/cli');
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkhead-bench-state-'));
  process.once('exit', () => fs.rmSync(stateRoot, { recursive: true, force: true }));
  const runtime = createRuntime({ stateRoot });
  const spec = defaultSpec({ rootfs, args: ['/bin/true'] });
  return async () => {
    const status = await runtime.run(spec, { stdio: 'ignore' });
    if (!status.exited || status.code !== 0) {
      throw new Error(`/bin/true ended with ${JSON.stringify(status)}`);
    }
  };
}

// ---------------------------------------------------------------------------

async function main() {
  const options = readOptions();
  const { busybox } = await ensureFixtures();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkhead-bench-'));
  const cases = [];
  let syscallRows = [];
  try {
    cases.push(...prepareColdCases(busybox, workDir));
    const warm = await startWarmCase(busybox);
    if (warm) {
      cases.push(warm);
    }
    await runRounds(cases, options);
    syscallRows = await runSyscallCases(busybox, workDir);
  } finally {
    for (const benchCase of cases) {
      benchCase.close?.();
    }
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const summary = summarize(cases);
  printTable(summary);
  printSyscallTable(syscallRows);
  writeResults(summary, options, busybox, syscallRows);
  // A skipped case is expected while bulkhead is unbuilt. A failed run is not.
  if ([...summary, ...syscallRows].some((row) => row.error && !row.skipped)) {
    process.exitCode = 1;
  }
}

function readOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        iterations: { type: 'string', default: '30' },
        warmup: { type: 'string', default: '1' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error.message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    iterations: parseCount('--iterations', values.iterations, 1),
    warmup: parseCount('--warmup', values.warmup, 0),
  };
}

function parseCount(name, text, minimum) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) {
    throw new UsageError(`invalid ${name} value '${text}': expected an integer of at least ${minimum}`);
  }
  return value;
}

class UsageError extends Error {}

// ---------------------------------------------------------------------------
// Cold cases: one new process tree per sample, timed from spawn to exit.

function prepareColdCases(rootfs, workDir) {
  return [
    prepareBulkheadCase(rootfs),
    prepareBulkheadLimitsCase(rootfs),
    prepareBulkheadBridgeCase(rootfs, workDir),
    prepareCniBridgeCase(workDir),
    prepareRuncCase(rootfs, workDir),
    prepareBwrapCase(rootfs),
  ];
}

function prepareBulkheadCase(rootfs) {
  const name = 'bulkhead';
  if (!fs.existsSync(BULKHEAD_BIN)) {
    return skippedCase(name, `${path.relative(REPO_ROOT, BULKHEAD_BIN)} is missing (build and link packages/cli first)`);
  }
  return commandCase(name, () => [BULKHEAD_BIN, 'run', '--rootfs', rootfs, '--', '/bin/true']);
}

// The same run with memory, pids and CPU limits, which the cgroup plugin writes
// before the container starts: the difference to the plain case is their cost.
function prepareBulkheadLimitsCase(rootfs) {
  const name = 'bulkhead (limits)';
  if (!fs.existsSync(BULKHEAD_BIN)) {
    return skippedCase(name, `${path.relative(REPO_ROOT, BULKHEAD_BIN)} is missing (build and link packages/cli first)`);
  }
  return commandCase(name, () => [BULKHEAD_BIN, 'run', '--rootfs', rootfs, '--memory', '64M', '--pids-limit', '32', '--cpus', '0.5', '--', '/bin/true']);
}

// Bridges and subnets of the two networked cases. No packet is sent: the
// containers only get their links, addresses and routes.
const BENCH_BRIDGE = 'bhbench0';
const BENCH_SUBNET = '10.213.250';
const CNI_BRIDGE = 'bhbenchcni0';
const CNI_SUBNET = '10.213.251';

// The plain run on a bridge: veth pair, lease, address and default route. The
// bridge is made before the rounds, as a CNI network's bridge outlives its
// containers, so that samples do not pay for creating and removing it.
function prepareBulkheadBridgeCase(rootfs, workDir) {
  const name = 'bulkhead (bridge)';
  if (!fs.existsSync(BULKHEAD_BIN)) {
    return skippedCase(name, `${path.relative(REPO_ROOT, BULKHEAD_BIN)} is missing (build and link packages/cli first)`);
  }
  if (!hasCommand('ip')) {
    return skippedCase(name, 'ip is not installed: run apt-get install iproute2');
  }
  runChecked('ip', ['link', 'add', BENCH_BRIDGE, 'type', 'bridge']);
  runChecked('ip', ['addr', 'add', `${BENCH_SUBNET}.1/24`, 'dev', BENCH_BRIDGE]);
  runChecked('ip', ['link', 'set', BENCH_BRIDGE, 'up']);
  const stateRoot = path.join(workDir, 'bridge-state');
  const benchCase = commandCase(name, () => [BULKHEAD_BIN, '--root', stateRoot, 'run', '--rootfs', rootfs, '--network', `bridge:${BENCH_BRIDGE}`, '--subnet', `${BENCH_SUBNET}.0/24`, '--', '/bin/true']);
  benchCase.close = () => spawnSync('ip', ['link', 'del', BENCH_BRIDGE], { stdio: 'ignore' });
  return benchCase;
}

// The same network work done by the standard CNI plugins: a named network
// namespace, then the bridge plugin's ADD (veth pair, host-local lease,
// address, default route) and DEL, then the namespace removed. No container
// process runs, so this is the network part alone.
function prepareCniBridgeCase(workDir) {
  const name = 'CNI bridge (network only)';
  const plugins = '/usr/lib/cni';
  if (!fs.existsSync(path.join(plugins, 'bridge')) || !fs.existsSync(path.join(plugins, 'host-local'))) {
    return skippedCase(name, `${plugins}/bridge is missing: run apt-get install containernetworking-plugins`);
  }
  const config = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'bulkhead-bench',
    type: 'bridge',
    bridge: CNI_BRIDGE,
    isGateway: true,
    ipam: { type: 'host-local', subnet: `${CNI_SUBNET}.0/24`, dataDir: path.join(workDir, 'cni-ipam') },
  });
  let sequence = 0;
  return {
    name,
    samples: [],
    async runOnce() {
      sequence += 1;
      const netns = `bulkhead-bench-${process.pid}-${sequence}`;
      const started = process.hrtime.bigint();
      runChecked('ip', ['netns', 'add', netns]);
      try {
        for (const command of ['ADD', 'DEL']) {
          const env = { ...CHILD_ENV, CNI_COMMAND: command, CNI_CONTAINERID: netns, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: plugins };
          const result = spawnSync(path.join(plugins, 'bridge'), [], { env, input: config, encoding: 'utf8' });
          if (result.error || result.status !== 0) {
            throw new Error(`CNI bridge ${command} failed: ${result.stdout.trim() || result.stderr.trim()}`);
          }
        }
      } finally {
        runChecked('ip', ['netns', 'del', netns]);
      }
      return Number(process.hrtime.bigint() - started) / 1e6;
    },
    close() {
      spawnSync('ip', ['link', 'del', CNI_BRIDGE], { stdio: 'ignore' });
    },
  };
}

// Writes one OCI bundle whose config points at the fixture. Each sample runs
// it under a new container id, because runc rejects an id that exists.
function prepareRuncCase(rootfs, workDir) {
  const name = 'runc';
  if (!hasCommand('runc')) {
    return skippedCase(name, 'runc is not installed: run apt-get install runc');
  }
  const bundle = path.join(workDir, 'bundle');
  const stateRoot = path.join(workDir, 'runc-state');
  fs.mkdirSync(bundle);
  fs.mkdirSync(stateRoot);
  runChecked('runc', ['spec', '--bundle', bundle]);
  const configFile = path.join(bundle, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  config.root = { path: rootfs, readonly: true };
  config.process.args = ['/bin/true'];
  config.process.terminal = false;
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  let sequence = 0;
  return commandCase(name, () => {
    sequence += 1;
    const id = `bulkhead-bench-${process.pid}-${sequence}`;
    return ['runc', '--root', stateRoot, 'run', '--bundle', bundle, id];
  });
}

function prepareBwrapCase(rootfs) {
  const name = 'bwrap';
  if (!hasCommand('bwrap')) {
    return skippedCase(name, 'bwrap is not installed: run apt-get install bubblewrap');
  }
  const argv = ['bwrap', '--unshare-all', '--die-with-parent', '--ro-bind', rootfs, '/', '--proc', '/proc', '--dev', '/dev', '/bin/true'];
  return commandCase(name, () => argv);
}

// Returns a case whose sample spawns the command from buildArgv and waits for it.
function commandCase(name, buildArgv) {
  return {
    name,
    samples: [],
    async runOnce() {
      const [command, ...args] = buildArgv();
      const started = process.hrtime.bigint();
      const result = spawnSync(command, args, { env: CHILD_ENV, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (result.error || result.status !== 0) {
        throw new Error(describeFailure(command, args, result));
      }
      return elapsedMs;
    },
  };
}

function skippedCase(name, reason) {
  return { name, samples: [], error: reason, skipped: true };
}

function describeFailure(command, args, result) {
  const reason = result.error?.message ?? (result.signal ? `killed by ${result.signal}` : `exit status ${result.status}`);
  const stderr = result.stderr?.trim().split('\n').at(-1) ?? '';
  return `${command} ${args.join(' ')} failed (${reason})${stderr ? `: ${stderr}` : ''}`;
}

function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function runChecked(command, args) {
  const result = spawnSync(command, args, { env: CHILD_ENV, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(describeFailure(command, args, result));
  }
}

// ---------------------------------------------------------------------------
// Syscall cost: a static program in a copy of the busybox root times a loop of
// getppid calls, with no filter and with bulkhead's default seccomp profile,
// under bulkhead and under runc. runc gets the profile as JSON from the same
// defaultProfile() that `bulkhead run --seccomp default` uses.

const SYSCALL_LOOP_SOURCE = path.join(REPO_ROOT, 'bench/syscall-loop.c');
// 100 batches of 5000 calls: each batch takes a few ms, so some run without preemption.
const SYSCALL_LOOP_ARGS = ['100', '5000'];
const SYSCALL_ROUNDS = 9;

async function runSyscallCases(busybox, workDir) {
  const rootfs = path.join(workDir, 'syscall-rootfs');
  fs.cpSync(busybox, rootfs, { recursive: true, verbatimSymlinks: true });
  try {
    runChecked('gcc', ['-static', '-O2', '-o', path.join(rootfs, 'bin/syscall-loop'), SYSCALL_LOOP_SOURCE]);
  } catch (error) {
    return [{ name: 'syscall cost', samplesNs: [], error: `gcc failed: ${firstLine(error)}`, skipped: false }];
  }
  const profile = await loadDefaultProfile();
  const cases = [
    syscallBulkheadCase('bulkhead, no filter', rootfs, []),
    syscallBulkheadCase('bulkhead, default profile', rootfs, ['--seccomp', 'default']),
    syscallRuncCase('runc, no filter', rootfs, workDir, undefined),
    profile ? syscallRuncCase('runc, default profile', rootfs, workDir, profile) : { ...skippedCase('runc, default profile', '@bulkhead/plugin-seccomp is not built'), samplesNs: [] },
  ];
  for (let round = 0; round < SYSCALL_ROUNDS; round += 1) {
    for (const benchCase of cases.filter((c) => !c.error)) {
      try {
        benchCase.samplesNs.push(benchCase.runOnce());
      } catch (error) {
        benchCase.error = firstLine(error);
        process.stderr.write(`bench: dropping ${benchCase.name}: ${benchCase.error}\n`);
      }
    }
  }
  return summarizeSyscalls(cases);
}

// Returns bulkhead's default profile, or undefined when the plugin is not built.
async function loadDefaultProfile() {
  try {
    return (await import('@bulkhead/plugin-seccomp')).defaultProfile();
  } catch {
    return undefined;
  }
}

function syscallBulkheadCase(name, rootfs, flags) {
  if (!fs.existsSync(BULKHEAD_BIN)) {
    return { ...skippedCase(name, 'bulkhead is not built'), samplesNs: [] };
  }
  return syscallCase(name, () => [BULKHEAD_BIN, 'run', '--rootfs', rootfs, ...flags, '--', '/bin/syscall-loop', ...SYSCALL_LOOP_ARGS]);
}

// Returns a case that runs the loop in a runc bundle like the startup case's, with linux.seccomp set to profile.
function syscallRuncCase(name, rootfs, workDir, profile) {
  if (!hasCommand('runc')) {
    return { ...skippedCase(name, 'runc is not installed'), samplesNs: [] };
  }
  const slug = profile ? 'default' : 'none';
  const bundle = path.join(workDir, `syscall-bundle-${slug}`);
  const stateRoot = path.join(workDir, `syscall-runc-state-${slug}`);
  fs.mkdirSync(bundle);
  fs.mkdirSync(stateRoot);
  runChecked('runc', ['spec', '--bundle', bundle]);
  const configFile = path.join(bundle, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  config.root = { path: rootfs, readonly: true };
  config.process.args = ['/bin/syscall-loop', ...SYSCALL_LOOP_ARGS];
  config.process.terminal = false;
  if (profile) {
    config.linux.seccomp = profile;
  }
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  let sequence = 0;
  return syscallCase(name, () => {
    sequence += 1;
    return ['runc', '--root', stateRoot, 'run', '--bundle', bundle, `bulkhead-bench-sys-${slug}-${process.pid}-${sequence}`];
  });
}

// Returns a case whose sample runs the loop once and returns the ns per call of its fastest batch.
function syscallCase(name, buildArgv) {
  return {
    name,
    samplesNs: [],
    runOnce() {
      const [command, ...args] = buildArgv();
      const result = spawnSync(command, args, { env: CHILD_ENV, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      const ns = Number(result.stdout?.trim());
      if (result.error || result.status !== 0 || !Number.isFinite(ns)) {
        throw new Error(describeFailure(command, args, result));
      }
      return ns;
    },
  };
}

function summarizeSyscalls(cases) {
  const rows = cases.map((benchCase) => {
    const sorted = [...benchCase.samplesNs].sort((a, b) => a - b);
    return {
      name: benchCase.name,
      runs: sorted.length,
      medianNs: sorted.length ? median(sorted) : null,
      samplesNs: benchCase.samplesNs,
      skipped: benchCase.skipped ?? false,
      error: benchCase.error ?? null,
    };
  });
  const medianOf = (name) => rows.find((row) => row.name === name && !row.error)?.medianNs ?? null;
  for (const row of rows) {
    const runtime = row.name.split(',')[0];
    const unfiltered = medianOf(`${runtime}, no filter`);
    const runcSame = medianOf(row.name.replace(/^bulkhead/, 'runc'));
    row.vsNoFilter = row.medianNs !== null && unfiltered ? row.medianNs / unfiltered : null;
    row.vsRunc = row.medianNs !== null && runcSame ? row.medianNs / runcSame : null;
  }
  return rows;
}

function printSyscallTable(rows) {
  if (rows.length === 0) {
    return;
  }
  const header = ['getppid cost', 'runs', 'median ns', 'vs no filter', 'vs runc'];
  const ratio = (value) => (value === null ? '-' : `${value.toFixed(2)}x`);
  const body = rows.map((row) => [row.name, String(row.runs), formatNumber(row.medianNs, 1), ratio(row.vsNoFilter), ratio(row.vsRunc)]);
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column].length)));
  const format = (cells) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  console.log('');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  body.forEach((cells) => console.log(format(cells)));
  for (const row of rows.filter((r) => r.error)) {
    console.log(`${row.name}: ${row.skipped ? 'skipped' : 'failed'}: ${row.error}`);
  }
}

// ---------------------------------------------------------------------------
// Warm case: a long-lived worker process keeps the runtime loaded and runs one
// container per request. It is a separate process so that anything the
// runtime does to its own process (namespaces, signal handlers) cannot affect
// the cold cases, and so that it starts without NODE_EXTRA_CA_CERTS. Replies
// travel on fd 3, because the runtime's logger may write to stdout, which
// goes to the bench's stderr.

async function startWarmCase(rootfs) {
  const name = 'bulkhead (warm)';
  const worker = spawn(process.execPath, [fileURLToPath(import.meta.url), WARM_WORKER_FLAG, rootfs], {
    cwd: REPO_ROOT,
    env: CHILD_ENV,
    stdio: ['pipe', 2, 'inherit', 'pipe'],
  });
  const replies = createInterface({ input: worker.stdio[3] })[Symbol.asyncIterator]();
  const nextReply = async () => {
    const { value, done } = await replies.next();
    if (done) {
      throw new Error(`warm worker exited with status ${worker.exitCode ?? 'unknown'}`);
    }
    return JSON.parse(value);
  };
  const hello = await nextReply();
  if (hello.skip) {
    worker.stdin.end();
    return skippedCase(name, hello.skip);
  }
  return {
    name,
    samples: [],
    async runOnce() {
      worker.stdin.write('run\n');
      const reply = await nextReply();
      if (reply.error) {
        throw new Error(`runtime.run failed: ${reply.error}`);
      }
      return reply.ms;
    },
    close() {
      worker.stdin.end();
    },
  };
}

// Worker side of startWarmCase. Protocol: one JSON line per message on
// fd 3. The first line is {"ready":true} or {"skip":"reason"}. Each "run"
// line on stdin then gets {"ms":N} or {"error":"message"}.
async function warmWorker(rootfs) {
  let runOnce;
  try {
    runOnce = await createWarmRunner(rootfs);
  } catch (error) {
    reply({ skip: `runtime not available: ${firstLine(error)}` });
    return;
  }
  reply({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line !== 'run') {
      continue;
    }
    const started = process.hrtime.bigint();
    try {
      await runOnce();
      reply({ ms: Number(process.hrtime.bigint() - started) / 1e6 });
    } catch (error) {
      reply({ error: firstLine(error) });
    }
  }
}

function reply(message) {
  fs.writeSync(3, `${JSON.stringify(message)}\n`);
}

function firstLine(error) {
  return String(error?.message ?? error).split('\n')[0];
}

// ---------------------------------------------------------------------------
// Rounds and statistics

// Runs every case once per round, in the same order, for warmup + iterations
// rounds, and keeps the timed samples. A case that fails once is dropped
// from later rounds with its error, and the others go on.
async function runRounds(cases, { iterations, warmup }) {
  const active = () => cases.filter((benchCase) => !benchCase.error);
  for (let round = 0; round < warmup + iterations; round += 1) {
    for (const benchCase of active()) {
      try {
        const ms = await benchCase.runOnce();
        if (round >= warmup) {
          benchCase.samples.push(ms);
        }
      } catch (error) {
        benchCase.error = firstLine(error);
        process.stderr.write(`bench: dropping ${benchCase.name}: ${benchCase.error}\n`);
      }
    }
  }
}

function summarize(cases) {
  const rows = cases.map((benchCase) => {
    const sorted = [...benchCase.samples].sort((a, b) => a - b);
    return {
      name: benchCase.name,
      runs: sorted.length,
      medianMs: sorted.length ? median(sorted) : null,
      p90Ms: sorted.length ? percentile(sorted, 0.9) : null,
      samplesMs: benchCase.samples,
      skipped: benchCase.skipped ?? false,
      error: benchCase.error ?? null,
    };
  });
  const reference = (name) => rows.find((row) => row.name === name && !row.error)?.medianMs ?? null;
  const runcMedian = reference('runc');
  const bwrapMedian = reference('bwrap');
  for (const row of rows) {
    row.vsRunc = row.medianMs !== null && runcMedian ? row.medianMs / runcMedian : null;
    row.vsBwrap = row.medianMs !== null && bwrapMedian ? row.medianMs / bwrapMedian : null;
  }
  return rows;
}

function median(sorted) {
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Nearest-rank percentile: the smallest sample with at least q of the samples at or below it.
function percentile(sorted, q) {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

// ---------------------------------------------------------------------------
// Output

function printTable(rows) {
  const header = ['case', 'runs', 'median ms', 'p90 ms', 'vs runc', 'vs bwrap'];
  const body = rows.map((row) => [
    row.name,
    String(row.runs),
    formatNumber(row.medianMs, 1),
    formatNumber(row.p90Ms, 1),
    row.vsRunc === null ? '-' : `${row.vsRunc.toFixed(2)}x`,
    row.vsBwrap === null ? '-' : `${row.vsBwrap.toFixed(2)}x`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column].length)));
  const format = (cells) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  console.log(format(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  body.forEach((cells) => console.log(format(cells)));
  for (const row of rows.filter((r) => r.error)) {
    console.log(`${row.name}: ${row.skipped ? 'skipped' : 'failed'}: ${row.error}`);
  }
}

function formatNumber(value, digits) {
  return value === null ? '-' : value.toFixed(digits);
}

function writeResults(rows, options, rootfs, syscallRows) {
  const results = {
    date: new Date().toISOString(),
    host: describeHost(),
    rootfs,
    iterations: options.iterations,
    warmup: options.warmup,
    cases: rows,
    syscallCost: { batches: Number(SYSCALL_LOOP_ARGS[0]), callsPerBatch: Number(SYSCALL_LOOP_ARGS[1]), rounds: SYSCALL_ROUNDS, cases: syscallRows },
  };
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), RESULTS_FILE)}`);
}

function describeHost() {
  return {
    kernel: os.release(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    runc: toolVersion('runc', ['--version']),
    bwrap: toolVersion('bwrap', ['--version']),
  };
}

function toolVersion(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n')[0].trim() : null;
}

// ---------------------------------------------------------------------------

try {
  if (process.argv[2] === WARM_WORKER_FLAG) {
    await warmWorker(process.argv[3]);
    // Exit even if the runtime left timers or handles open, because the
    // bench process waits for this worker's pipes to close.
    process.exit(0);
  } else {
    await main();
  }
} catch (error) {
  process.stderr.write(`bench: ${error.message}\n`);
  if (error instanceof UsageError) {
    process.stderr.write(`${USAGE}\n`);
  }
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
