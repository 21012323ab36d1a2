// Counts results in a TAP 13/14 stream (ava --tap, node --test --test-reporter=tap).

/** Returns { total, passed, failed, skipped } from the top-level test points of a TAP stream. */
export function summarizeTap(text) {
  const counts = { total: 0, passed: 0, failed: 0, skipped: 0 };
  for (const line of text.split('\n')) {
    // Only unindented test points: node's reporter indents subtests, which its parents already count.
    const match = line.match(/^(not ok|ok)\b[^#]*(#\s*(\w+))?/);
    if (!match) continue;
    counts.total += 1;
    const directive = match[3]?.toLowerCase();
    if (directive === 'skip' || directive === 'todo') counts.skipped += 1;
    else if (match[1] === 'ok') counts.passed += 1;
    else counts.failed += 1;
  }
  return counts;
}
