/**
 * Pressure stall information (PSI, Linux 4.20 and later): /proc/pressure/{cpu,memory,io} for the
 * whole system and, on cgroup v2, cpu.pressure and memory.pressure in each cgroup. Each line reads
 * "some avg10=0.12 avg60=0.05 avg300=0.01 total=123456": the share of time, in percent, in which
 * at least one task ("some") or every task ("full") stalled on the resource.
 */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Total stall time in microseconds. */
  total: number;
}

export interface Pressure {
  some: PressureLine;
  /** Absent from the system's cpu file before Linux 5.13. */
  full?: PressureLine;
}

/** Parses a PSI file; returns undefined when it has no "some" line. */
export function parsePressure(text: string): Pressure | undefined {
  const lines: Partial<Record<'some' | 'full', PressureLine>> = {};
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const values = Object.fromEntries(pairs.map((pair) => pair.split('=')).map(([key, value]) => [key, Number(value)]));
    lines[kind] = { avg10: values['avg10'] ?? 0, avg60: values['avg60'] ?? 0, avg300: values['avg300'] ?? 0, total: values['total'] ?? 0 };
  }
  if (lines.some === undefined) return undefined;
  return lines.full === undefined ? { some: lines.some } : { some: lines.some, full: lines.full };
}

/** When to raise and when to lower a limit. Pressures are "some avg10" percentages. */
export interface AdjustPolicy {
  /** Raise only while system pressure is below this. Default 10. */
  lowPressure: number;
  /** Lower while system pressure is above this. Default 40. The gap between the two is the hysteresis band. */
  highPressure: number;
  /** Raise only while usage is below this share of the current limit. Default 0.8. */
  usageRatio: number;
  /** Consecutive samples that must agree before a change. Default 3. */
  samples: number;
}

export const DEFAULT_POLICY: AdjustPolicy = { lowPressure: 10, highPressure: 40, usageRatio: 0.8, samples: 3 };

/** One reading of a resource: system pressure, the container's usage, and its current limit in the same unit. */
export interface AdjustSample {
  pressure: number;
  usage: number;
  limit: number;
}

export type Verdict = 'raise' | 'lower' | 'hold';

/**
 * Classifies one sample: raise while system pressure is low and the container uses less than
 * `usageRatio` of its limit, lower while pressure is high, otherwise hold.
 */
export function classify(sample: AdjustSample, policy: AdjustPolicy): Verdict {
  if (sample.pressure > policy.highPressure) return 'lower';
  if (sample.pressure < policy.lowPressure && sample.usage < policy.usageRatio * sample.limit) return 'raise';
  return 'hold';
}

/** The run of equal verdicts so far. */
export interface Streak {
  verdict: Verdict;
  count: number;
}

export interface Decision {
  /** The new limit, or undefined to keep the current one. */
  limit: number | undefined;
  streak: Streak;
  /** Why, in words, with the figures. */
  reason: string;
}

/**
 * Decides the next limit from a sample. A change needs `policy.samples` equal verdicts in a row
 * and moves the limit by `step` (0.1 for 10%) within [min, max]; after a change the streak
 * starts over, so limits move at most once per `samples` readings.
 */
export function decide(streak: Streak, sample: AdjustSample, policy: AdjustPolicy, step: number, bounds: { min: number; max: number }): Decision {
  const verdict = classify(sample, policy);
  const next: Streak = verdict === streak.verdict ? { verdict, count: streak.count + 1 } : { verdict, count: 1 };
  const figures = `system pressure ${sample.pressure.toFixed(2)}%, usage ${percent(sample.usage, sample.limit)} of the limit`;
  if (verdict === 'hold') return { limit: undefined, streak: next, reason: `hold: ${figures}` };
  if (next.count < policy.samples) return { limit: undefined, streak: next, reason: `${verdict} pending (${next.count} of ${policy.samples} samples): ${figures}` };

  const factor = verdict === 'raise' ? 1 + step : 1 - step;
  const limit = Math.round(Math.min(bounds.max, Math.max(bounds.min, sample.limit * factor)));
  const reset: Streak = { verdict: 'hold', count: 0 };
  if (limit === sample.limit) return { limit: undefined, streak: reset, reason: `${verdict} stopped at the ${verdict === 'raise' ? 'maximum' : 'minimum'} bound: ${figures}` };
  const why = verdict === 'raise' ? `system pressure below ${policy.lowPressure}% and usage below ${percent(policy.usageRatio, 1)} of the limit` : `system pressure above ${policy.highPressure}%`;
  return { limit, streak: reset, reason: `${verdict} by ${percent(step, 1)}: ${why} (${figures})` };
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : 'n/a';
}
