import { readFileSync } from 'node:fs';
import { ContainerStateError, ErrorCode, type Container } from '@bulkhead/core';
import { cgroupEvents, cgroupStats, toRuncStats } from '@bulkhead/plugin-cgroup';
import { parseCommand } from '../args.js';
import { runcNetworkStats } from './net-stats.js';
import { startIntrusionWatch } from '../network.js';
import { createRuntime } from '../compose.js';
import type { GlobalFlags } from '../main.js';
import { parseBytes, parseInteger } from '../resources.js';
import { usageError } from '../usage.js';

const string = { type: 'string' } as const;
const boolean = { type: 'boolean' } as const;

/**
 * `bulkhead events`: prints a container's events as JSON lines, as runc does: its statistics every
 * --interval, and each enforcement the kernel counted (oom, memory.high, memory.max, pids.max,
 * cpu.throttled), and, when its firewall has intrusion detectors, each source they block (type
 * intrusion, also recorded in the audit file). It ends when the container has no process left.
 * --stats prints the statistics once, with the interfaces of the container's own network
 * namespace and its firewall's rule counters.
 */
export async function eventsCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const { values, positionals } = parseCommand('events', argv, { interval: string, stats: boolean }, { min: 1, max: 1, names: 'ID' });
  const interval = parseDuration('--interval', values.interval ?? '5s');
  const container = liveContainer(createRuntime(globals.runtime).container(positionals[0]!), 'events');
  if (values.stats === true) {
    printLine({ type: 'stats', id: container.id, data: { ...toRuncStats(cgroupStats(container)), ...(await runcNetworkStats(container)) } });
    return 0;
  }

  const stream = cgroupEvents(container, { statsInterval: interval });
  const stopWatch = startIntrusionWatch(container, printLine);
  const stop = () => void stream.close();
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    for await (const event of stream) printLine(event);
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    await stopWatch();
  }
  return 0;
}

/** Parses a duration as Go's time.ParseDuration writes the common ones (500ms, 5s, 1m), or a number of seconds. */
export function parseDuration(flag: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (match === null) throw usageError(`${flag}: invalid duration ${JSON.stringify(value)}: use a number with ms, s, m or h, such as 5s`);
  const milliseconds = Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (milliseconds <= 0) throw usageError(`${flag}: must be more than zero, got ${JSON.stringify(value)}`);
  return milliseconds;
}

function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function liveContainer(container: Container, command: string): Container {
  if (container.status === 'created' || container.status === 'running' || container.status === 'paused') return container;
  throw new ContainerStateError(ErrorCode.INVALID_STATE, `${command} of container ${container.id}: it is ${container.status}`);
}

/** The flags of `bulkhead update`, as runc names them, each with where it goes in linux.resources. */
const UPDATE_FLAGS: Record<string, { section: string; field: string; bytes?: boolean; text?: boolean }> = {
  memory: { section: 'memory', field: 'limit', bytes: true },
  'memory-reservation': { section: 'memory', field: 'reservation', bytes: true },
  'memory-swap': { section: 'memory', field: 'swap', bytes: true },
  'cpu-quota': { section: 'cpu', field: 'quota' },
  'cpu-period': { section: 'cpu', field: 'period' },
  'cpu-share': { section: 'cpu', field: 'shares' },
  'cpu-shares': { section: 'cpu', field: 'shares' },
  'cpu-rt-period': { section: 'cpu', field: 'realtimePeriod' },
  'cpu-rt-runtime': { section: 'cpu', field: 'realtimeRuntime' },
  'cpuset-cpus': { section: 'cpu', field: 'cpus', text: true },
  'cpuset-mems': { section: 'cpu', field: 'mems', text: true },
  'pids-limit': { section: 'pids', field: 'limit' },
  'blkio-weight': { section: 'blockIO', field: 'weight' },
};

/**
 * `bulkhead update`: changes the resource limits of a created, running or paused container, from
 * runc's flags or from --resources FILE, a linux.resources JSON document ("-" reads stdin). The
 * change is validated against the stored spec, applied to the cgroup, and saved.
 */
export async function updateCommand(argv: readonly string[], globals: GlobalFlags): Promise<number> {
  const options = Object.fromEntries(Object.keys(UPDATE_FLAGS).map((name) => [name, string]));
  const parsed = parseCommand('update', argv, { ...options, resources: { ...string, short: 'r' } }, { min: 1, max: 1, names: 'ID' });
  const values = parsed.values as Record<string, string | undefined>;
  const positionals = parsed.positionals;
  const flags = Object.keys(UPDATE_FLAGS).filter((name) => values[name] !== undefined);
  if (values.resources !== undefined && flags.length > 0) throw usageError(`update: --resources cannot be combined with --${flags[0]}`);
  const change = values.resources !== undefined ? readResources(values.resources) : resourcesFromFlags(values);
  if (Object.keys(change).length === 0) throw usageError('update: nothing to change: give --resources FILE or a flag such as --memory');
  await createRuntime(globals.runtime).update(positionals[0]!, change);
  return 0;
}

function resourcesFromFlags(values: Record<string, string | undefined>): Record<string, unknown> {
  const change: Record<string, Record<string, unknown>> = {};
  for (const [name, target] of Object.entries(UPDATE_FLAGS)) {
    const value = values[name];
    if (value === undefined) continue;
    const flag = `--${name}`;
    const section = (change[target.section] ??= {});
    if (target.text === true) section[target.field] = value;
    else if (target.bytes === true) section[target.field] = parseBytes(flag, value);
    else section[target.field] = parseInteger(flag, value);
  }
  return change;
}

function readResources(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw usageError(`update: read --resources ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usageError(`update: --resources ${path}: invalid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw usageError(`update: --resources ${path}: must be a JSON object of linux.resources fields`);
  return parsed as Record<string, unknown>;
}
