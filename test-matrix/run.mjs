#!/usr/bin/env zx
// Runs the kernel matrix: every (kernel, cgroup mode) cell of matrix.json boots one VM
// that runs all of the cell's suites, because a boot under TCG costs 10 to 30 s.
//   npm run matrix                                          every cell
//   npm run matrix -- --kernel 6.1 --cgroup v2 --suite core  one cell (options repeat or take a,b)
//   npm run matrix -- --ci                                  the CI cell from matrix.json, strict
//   npm run matrix -- --provider vagrant                    boxes from matrix.json's vagrantBoxes
// Other options: --jobs N (VMs at a time, default: the cores), --timeout MINUTES (per boot),
// --matrix FILE, --cache DIR (kernel cache), --out DIR, --summarize (rebuild the summary from the
// cell.json files in the output folder without booting).
// Results go to test-matrix/results/ (or --out DIR). Exits 1 when a suite that passed in the
// previous report there no longer passes. With --ci it also exits 1 when any suite fails or a
// VM fails twice, because CI starts with no previous report.
import { DEFAULT_CACHE_DIR, prepareKernel } from '../vm/lib/cache.mjs';
import { detectAccel, runInVm } from '../vm/lib/qemu.mjs';
import { runInVagrant } from '../vm/lib/vagrant.mjs';
import { describeRun, findRegressions, renderHtml, renderMarkdown } from './lib/report.mjs';
import { createStatusBoard } from './lib/status.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const REPO = path.dirname(HERE);
const KERNELS = await fs.readJson(path.join(REPO, 'vm/kernels.json'));
const SUITES = await fs.readJson(path.join(HERE, 'suites.json'));

// Kernel ids such as 5.10 must stay strings: minimist's default would read 5.10 as the number 5.1.
const options = parseArgv(process.argv.slice(3), {
  string: ['kernel', 'cgroup', 'suite', 'matrix', 'out', 'cache', 'jobs', 'timeout', 'provider'],
  boolean: ['ci', 'summarize'],
});

const list = (value) => [].concat(value ?? []).flatMap((item) => String(item).split(',')).filter(Boolean);

/** Returns the cells to run, [{ kernel, cgroup, suiteNames }], from matrix.json and the options. */
function selectCells(matrix, options) {
  const base = options.ci ? { kernels: [matrix.ci.kernel], cgroups: [matrix.ci.cgroup], suites: matrix.ci.suites } : matrix;
  const kernels = list(options.kernel).length ? list(options.kernel) : base.kernels;
  const cgroups = list(options.cgroup).length ? list(options.cgroup) : base.cgroups;
  const suiteNames = list(options.suite).length ? list(options.suite) : base.suites;
  for (const kernel of kernels) if (!KERNELS[kernel]) throw new Error(`--kernel: unknown kernel "${kernel}": vm/kernels.json has ${Object.keys(KERNELS).join(', ')}`);
  for (const cgroup of cgroups) if (!['v2', 'v1'].includes(cgroup)) throw new Error(`--cgroup: invalid mode "${cgroup}": expected v2 or v1`);
  for (const name of suiteNames) if (!SUITES[name]) throw new Error(`--suite: unknown suite "${name}": suites.json has ${Object.keys(SUITES).join(', ')}`);
  // suiteCells limits a suite of the default list to some "kernel/cgroup" cells. --suite runs it in all.
  const limits = list(options.suite).length || options.ci ? {} : (matrix.suiteCells ?? {});
  const inCell = (cell) => suiteNames.filter((name) => !limits[name] || limits[name].includes(cell));
  return kernels.flatMap((kernel) => cgroups.map((cgroup) => ({ kernel, cgroup, suiteNames: inCell(`${kernel}/${cgroup}`) })));
}

/** Fetches each kernel into the cache (with progress) and checks which accelerator boots it. */
async function prepareKernels(kernelIds, cacheDir) {
  const prepared = {};
  for (const id of kernelIds) {
    const started = Date.now();
    const info = await prepareKernel(cacheDir, { id, ...KERNELS[id] }, (step) => console.log(`kernel ${id}: ${step}`));
    const accel = await detectAccel({ kernelInfo: info, cacheDir, repo: REPO, onProgress: (step) => console.log(`kernel ${id}: ${step}`) });
    console.log(`kernel ${id}: ${info.release} ready in ${((Date.now() - started) / 1000).toFixed(1)} s, using ${accel.accel} (${accel.reason})`);
    prepared[id] = { info, accel };
  }
  return prepared;
}

/** Boots one cell with qemu; returns the boot result and the seconds from boot to the first suite. */
async function bootWithQemu(cell, kernel, settings, board, script) {
  let bootToFirstTestSeconds = null;
  const result = await runInVm({
    kernelInfo: kernel.info, accel: kernel.accel.accel, cgroup: cell.cgroup, repo: REPO, script,
    timeoutSeconds: settings.timeoutMinutes * 60, cpus: settings.cpusPerVm, memoryMiB: settings.memoryMiB,
    onLine(line, seconds) {
      const started = line.match(/^bulkhead-matrix: suite (\S+) started/);
      if (started) {
        bootToFirstTestSeconds ??= seconds;
        board.update(cell, `running ${started[1]}`);
      }
      if (/^(ok|not ok) /.test(line)) board.count(cell, line.startsWith('ok'));
    },
    onRetry: (reason) => board.update(cell, `retrying after infrastructure failure: ${reason}`),
  });
  return { ...result, bootToFirstTestSeconds };
}

/**
 * Runs one cell in the Vagrant box that matrix.json's vagrantBoxes names for "kernel/cgroup".
 * NOTE: never run against a real box here (no box catalogue is reachable); only the generated
 * Vagrantfile and commands are unit-tested.
 */
async function bootWithVagrant(cell, settings, cellDir, script) {
  const box = settings.vagrantBoxes[`${cell.kernel}/${cell.cgroup}`];
  if (!box) throw new Error(`--provider vagrant: matrix.json has no vagrantBoxes entry for "${cell.kernel}/${cell.cgroup}"`);
  const outDir = path.join(cellDir, 'out');
  const started = Date.now();
  const exitCode = await runInVagrant({ workDir: path.join(cellDir, 'vagrant'), box, repo: REPO, outDir, script, memoryMiB: settings.memoryMiB, cpus: settings.cpusPerVm });
  const files = {};
  for (const name of await fs.readdir(outDir)) files[name] = await fs.readFile(path.join(outDir, name), 'utf8');
  return {
    exitCode, files, serial: '', accel: `vagrant (${box})`, attempts: 1, seconds: (Date.now() - started) / 1000, bootToFirstTestSeconds: null,
    infrastructureFailure: exitCode === null ? 'the box wrote no exit code' : undefined,
  };
}

/** Runs one cell and returns its record for report.json; writes the cell's files into cellDir. */
async function runCell(cell, kernel, settings, board) {
  const cellDir = path.join(settings.outDir, `${cell.kernel}-${cell.cgroup}`);
  await fs.emptyDir(cellDir);
  const script = `exec node test-matrix/guest.mjs --suites ${cell.suiteNames.join(',')} --out "$BULKHEAD_VM_OUT"\n`;
  board.update(cell, 'booting');
  const result = settings.provider === 'vagrant'
    ? await bootWithVagrant(cell, settings, cellDir, script)
    : await bootWithQemu(cell, kernel, settings, board, script);

  await fs.writeFile(path.join(cellDir, 'serial.log'), result.serial);
  for (const [name, text] of Object.entries(result.files)) await fs.writeFile(path.join(cellDir, name), text);
  const guest = result.files['results.json'] ? JSON.parse(result.files['results.json']) : null;
  const infrastructureFailure = result.infrastructureFailure ?? (guest ? null : `the job exited with ${result.exitCode} and wrote no results.json`);

  const record = {
    kernel: cell.kernel, cgroup: cell.cgroup, suiteNames: cell.suiteNames, release: kernel?.info.release ?? guest?.release,
    accel: result.accel, attempts: result.attempts, seconds: result.seconds, bootToFirstTestSeconds: result.bootToFirstTestSeconds,
    infrastructureFailure, firstFailure: result.firstFailure ?? null,
    features: guest?.features ?? null, suites: guest?.suites ?? [],
  };
  await fs.writeJson(path.join(cellDir, 'cell.json'), record, { spaces: 2 });
  board.finish(cell, record);
  return record;
}

/** Runs cells with at most `parallel` VMs at once. */
async function runCells(cells, kernels, settings, board) {
  const records = [];
  const queue = [...cells];
  const worker = async () => {
    for (let cell = queue.shift(); cell; cell = queue.shift()) records.push(await runCell(cell, kernels[cell.kernel], settings, board));
  };
  await Promise.all(Array.from({ length: settings.parallel }, worker));
  return cells.map((cell) => records.find((record) => record.kernel === cell.kernel && record.cgroup === cell.cgroup));
}

async function writeReport(outDir, report) {
  await fs.writeJson(path.join(outDir, 'report.json'), report, { spaces: 2 });
  await fs.writeFile(path.join(outDir, 'summary.md'), renderMarkdown(report));
  await fs.writeFile(path.join(outDir, 'summary.html'), renderHtml(report));
  console.log(`\n${renderMarkdown(report)}\nwrote ${path.join(outDir, 'summary.md')} and summary.html`);
}

/**
 * Rebuilds the report from every <cell>/cell.json in outDir without booting, so cells from
 * several runs (say, one kernel rerun) appear in one table. No regression check is made.
 */
async function summarizeCells(outDir) {
  const cells = [];
  for (const entry of (await fs.readdir(outDir)).sort()) {
    const file = path.join(outDir, entry, 'cell.json');
    if (await fs.pathExists(file)) cells.push(await fs.readJson(file));
  }
  if (!cells.length) throw new Error(`--summarize: no <cell>/cell.json in ${outDir}: run the matrix first`);
  const seconds = cells.reduce((sum, cell) => sum + cell.seconds, 0);
  const description = `Rebuilt from the cell.json of ${cells.length} cells, which may come from several runs; their boots took ${seconds.toFixed(0)} s added up.`;
  await writeReport(outDir, { startedAt: new Date().toISOString(), seconds, description, cells });
  return 0;
}

async function main() {
  if (options.summarize) return summarizeCells(path.resolve(options.out ?? path.join(HERE, 'results')));
  const matrixFile = options.matrix ?? path.join(HERE, 'matrix.json');
  const matrix = await fs.readJson(matrixFile);
  const cells = selectCells(matrix, options);
  const outDir = path.resolve(options.out ?? path.join(HERE, 'results'));
  const cacheDir = options.cache ?? DEFAULT_CACHE_DIR;
  const cores = os.availableParallelism();
  const parallel = Math.max(1, Math.min(cells.length, Number(options.jobs ?? cores)));
  const settings = {
    outDir, parallel,
    cpusPerVm: Math.max(1, Math.floor(cores / parallel)),
    timeoutMinutes: Number(options.timeout ?? matrix.timeoutMinutes ?? 45),
    memoryMiB: matrix.memoryMiB ?? 2048,
    provider: options.provider ?? 'qemu',
    vagrantBoxes: matrix.vagrantBoxes ?? {},
  };
  if (!['qemu', 'vagrant'].includes(settings.provider)) throw new Error(`--provider: invalid provider "${settings.provider}": expected qemu or vagrant`);

  const started = Date.now();
  const previous = await fs.readJson(path.join(outDir, 'report.json')).catch(() => null);
  await fs.ensureDir(outDir);
  // Vagrant boxes bring their own kernels, so only the qemu provider fetches any.
  const kernelIds = [...new Set(cells.map((cell) => cell.kernel))];
  const kernels = settings.provider === 'qemu' ? await prepareKernels(kernelIds, cacheDir) : {};
  const prepareSeconds = (Date.now() - started) / 1000;

  console.log(`running ${cells.length} cell(s), ${parallel} VM(s) at a time with ${settings.cpusPerVm} vCPU(s) each`);
  const board = createStatusBoard(cells, process.stdout);
  let records;
  try {
    records = await runCells(cells, kernels, settings, board);
  } finally {
    board.close();
  }

  const report = {
    startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000, prepareSeconds,
    parallel, host: `${os.hostname()} (${os.release()}, ${cores} cores)`, cells: records,
  };
  report.description = describeRun(report);
  await writeReport(outDir, report);
  console.log(`${report.seconds.toFixed(0)} s in all, ${prepareSeconds.toFixed(0)} s preparing kernels`);

  // The plain "N passed, N failed" line that CI logs are read for, counted over every cell's tests.
  const suites = records.flatMap((record) => record.suites);
  const total = (key) => suites.reduce((sum, suite) => sum + (suite[key] ?? 0), 0);
  console.log(`matrix: ${total('passed')} passed, ${total('failed')} failed, ${total('skipped')} skipped`);

  const regressions = findRegressions(previous, report);
  if (regressions.length) console.error(`matrix: regressions since the previous report: ${regressions.join(', ')}`);
  const anyFailure = records.some((record) => record.infrastructureFailure || record.suites.some((suite) => suite.status === 'fail'));
  if (options.ci && anyFailure) console.error('matrix: the CI cell failed');
  return regressions.length || (options.ci && anyFailure) ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`matrix: ${error.message}`);
  process.exitCode = 2;
}
