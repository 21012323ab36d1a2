// Live per-cell status. On a terminal, one line per cell is redrawn in place; otherwise
// (CI logs) a line is printed on each change of a cell's state.

const label = (cell) => `${cell.kernel}/${cell.cgroup}`;

/** Creates the status board for cells, writing to stream. */
export function createStatusBoard(cells, stream) {
  const started = Date.now();
  const states = new Map(cells.map((cell) => [label(cell), { text: 'queued', passed: 0, failed: 0, since: null }]));
  const interactive = Boolean(stream.isTTY);
  let drawn = 0;

  const line = (name) => {
    const state = states.get(name);
    const elapsed = state.since && !state.done ? ` ${((Date.now() - state.since) / 1000).toFixed(0)} s` : '';
    const counts = state.passed || state.failed ? ` (${state.passed} ok, ${state.failed} not ok)` : '';
    return `${name.padEnd(12)} ${state.text}${counts}${elapsed}`;
  };
  const redraw = () => {
    if (drawn) stream.write(`\x1b[${drawn}A`);
    for (const name of states.keys()) stream.write(`\x1b[2K${line(name)}\n`);
    drawn = states.size;
  };
  // In a log, cells that are still running print a line each minute so a slow suite shows progress.
  const heartbeat = () => {
    for (const [name, state] of states) {
      if (state.since && !state.done) stream.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line(name)}\n`);
    }
  };
  const timer = interactive ? setInterval(redraw, 1000) : setInterval(heartbeat, 60_000);

  const change = (cell, text) => {
    const state = states.get(label(cell));
    state.since ??= Date.now();
    state.text = text;
    if (interactive) redraw();
    else stream.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line(label(cell))}\n`);
  };

  return {
    update: change,
    count(cell, ok) {
      const state = states.get(label(cell));
      if (ok) state.passed += 1;
      else state.failed += 1;
      if (interactive) redraw();
    },
    finish(cell, record) {
      const failed = record.suites.filter((suite) => suite.status === 'fail').map((suite) => suite.name);
      const skipped = record.suites.filter((suite) => suite.status === 'skip').map((suite) => suite.name);
      let text = failed.length ? `FAIL ${failed.join(',')}` : 'pass';
      if (record.infrastructureFailure) text = `ERROR ${record.infrastructureFailure}`;
      if (skipped.length) text += ` (skipped ${skipped.join(',')})`;
      states.get(label(cell)).done = true;
      change(cell, `${text} in ${record.seconds.toFixed(0)} s on ${record.accel}`);
    },
    close() {
      clearInterval(timer);
      if (interactive) redraw();
    },
  };
}
