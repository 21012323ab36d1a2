// Summary of a matrix run: report.json (read back next run to find regressions),
// summary.md, and a self-contained summary.html with kernels as columns and
// suites and kernel features as rows.

const STATUS_ORDER = ['fail', 'error', 'pass', 'skip'];

/** Returns the cell's status for one suite: pass, fail, skip (with reason) or error (infrastructure). */
export function suiteStatus(cell, suiteName) {
  if (cell.infrastructureFailure) return { status: 'error', reason: cell.infrastructureFailure };
  const suite = cell.suites.find((entry) => entry.name === suiteName);
  if (!suite) return { status: 'error', reason: 'no result' };
  return { status: suite.status, reason: suite.reason, counts: suite.total === undefined ? null : `${suite.passed}/${suite.total}` };
}

/** Returns "kernel/cgroup/suite" keys that were pass in previous and are no longer pass in current. */
export function findRegressions(previous, current) {
  if (!previous) return [];
  const before = new Map();
  for (const cell of previous.cells) for (const suite of cell.suites ?? []) before.set(`${cell.kernel}/${cell.cgroup}/${suite.name}`, suite.status);
  const regressions = [];
  for (const cell of current.cells) {
    for (const name of cell.suiteNames) {
      const key = `${cell.kernel}/${cell.cgroup}/${name}`;
      if (before.get(key) === 'pass' && suiteStatus(cell, name).status !== 'pass') regressions.push(key);
    }
  }
  return regressions;
}

/** Flattens a feature object into [path, printable value] rows. */
export function featureRows(kernelFeatures) {
  const rows = [];
  const walk = (value, prefix) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) walk(child, prefix ? `${prefix}.${key}` : key);
    } else {
      rows.push([prefix, Array.isArray(value) ? value.join(' ') : String(value)]);
    }
  };
  walk(kernelFeatures ?? {}, '');
  return rows;
}

/** Builds the table: columns are kernels, rows are "suite (cgroup)" and then "feature: name". */
export function buildTable(report) {
  const kernels = [...new Set(report.cells.map((cell) => cell.kernel))].sort(compareVersions);
  const cgroups = [...new Set(report.cells.map((cell) => cell.cgroup))];
  const suiteNames = [...new Set(report.cells.flatMap((cell) => cell.suiteNames))];
  const cellOf = (kernel, cgroup) => report.cells.find((cell) => cell.kernel === kernel && cell.cgroup === cgroup);

  const rows = [];
  for (const suite of suiteNames) {
    for (const cgroup of cgroups) {
      rows.push({ label: `${suite} (cgroup ${cgroup})`, values: kernels.map((kernel) => {
        const cell = cellOf(kernel, cgroup);
        return cell && cell.suiteNames.includes(suite) ? suiteStatus(cell, suite) : { status: 'none' };
      }) });
    }
  }
  rows.push({ label: 'accelerator', values: kernels.map((kernel) => ({ status: 'info', text: cellOf(kernel, cgroups[0])?.accel ?? '' })) });
  for (const cgroup of cgroups) {
    rows.push({ label: `boot to first test, s (cgroup ${cgroup})`, values: kernels.map((kernel) => ({ status: 'info', text: formatSeconds(cellOf(kernel, cgroup)?.bootToFirstTestSeconds) })) });
    rows.push({ label: `cell total, s (cgroup ${cgroup})`, values: kernels.map((kernel) => ({ status: 'info', text: formatSeconds(cellOf(kernel, cgroup)?.seconds) })) });
  }

  // Feature rows come from the first cgroup mode's cell of each kernel, except cgroup facts,
  // which differ per mode and so are shown for every cell.
  const featuresOf = (kernel, cgroup) => new Map(featureRows(cellOf(kernel, cgroup)?.features?.kernel));
  const featureNames = [...new Set(kernels.flatMap((kernel) => cgroups.flatMap((cgroup) => [...featuresOf(kernel, cgroup).keys()])))];
  for (const name of featureNames) {
    const perMode = name.startsWith('cgroup') ? cgroups : [cgroups[0]];
    for (const cgroup of perMode) {
      const label = perMode.length > 1 ? `feature: ${name} (cgroup ${cgroup})` : `feature: ${name}`;
      rows.push({ label, values: kernels.map((kernel) => ({ status: 'info', text: featuresOf(kernel, cgroup).get(name) ?? '' })) });
    }
  }
  const releases = kernels.map((kernel) => report.cells.find((cell) => cell.kernel === kernel && cell.release)?.release ?? '');
  return { kernels, releases, rows };
}

const compareVersions = (a, b) => {
  const [aMajor, aMinor] = a.split('.').map(Number);
  const [bMajor, bMinor] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
};

const formatSeconds = (seconds) => (seconds === undefined || seconds === null ? '' : seconds.toFixed(1));

function cellText(value) {
  if (value.status === 'info') return value.text;
  if (value.status === 'none') return '';
  const counts = value.counts ? ` ${value.counts}` : '';
  return value.reason ? `${value.status}${counts}: ${value.reason}` : `${value.status}${counts}`;
}

/** Returns the line under the title: when and where the cells ran, and for how long. */
export function describeRun({ startedAt, seconds, parallel, host }) {
  return `Run ${startedAt}, ${seconds.toFixed(0)} s in all, ${parallel} VMs at a time on ${host}.`;
}

/** Renders the table as Markdown. */
export function renderMarkdown(report) {
  const { kernels, releases, rows } = buildTable(report);
  const escape = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ');
  const lines = [
    `# bulkhead kernel matrix`,
    '',
    report.description,
    '',
    `| | ${kernels.map((kernel, index) => `${kernel} (${releases[index]})`).join(' | ')} |`,
    `| --- | ${kernels.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${escape(row.label)} | ${row.values.map((value) => escape(cellText(value))).join(' | ')} |`),
  ];
  return lines.join('\n') + '\n';
}

const escapeHtml = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** Renders the table as one HTML page with inline styles and no external resources. */
export function renderHtml(report) {
  const { kernels, releases, rows } = buildTable(report);
  const head = kernels.map((kernel, index) => `<th>${escapeHtml(kernel)}<br><small>${escapeHtml(releases[index])}</small></th>`).join('');
  const body = rows.map((row) => {
    const cells = row.values.map((value) => `<td class="${value.status}">${escapeHtml(cellText(value))}</td>`).join('');
    return `<tr><th>${escapeHtml(row.label)}</th>${cells}</tr>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bulkhead kernel matrix</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; max-width: 28em; }
td.pass { background: #d8f5d0; } td.fail { background: #f8d0d0; } td.error { background: #f5c089; }
td.skip { background: #eee; color: #555; } td.info { font-family: monospace; font-size: 12px; }
</style></head><body>
<h1>bulkhead kernel matrix</h1>
<p>${escapeHtml(report.description)}
Statuses: ${STATUS_ORDER.join(', ')} (error: the VM failed twice, no test result).</p>
<table><tr><th></th>${head}</tr>
${body}
</table></body></html>
`;
}
