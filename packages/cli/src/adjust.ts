import { adjustResources, type AdjustOptions } from '@bulkhead/plugin-cgroup';
import type { ContainerHandle, ContainerSpec } from '@bulkhead/core';
import { parseBytes } from './resources.js';
import { usageError } from './usage.js';

/** The annotation that turns on pressure-driven adjustment in `bulkhead run`. The --adjust flag sets it. */
export const ADJUST_ANNOTATION = 'org.bulkhead.adjust';

/**
 * Parses "cpu=MIN:MAX" (CPUs) and "memory=MIN:MAX" (sizes such as 64M), comma-separated, with an
 * optional "interval=MILLISECONDS". `source` names the flag or annotation in errors.
 */
export function parseAdjust(source: string, text: string): AdjustOptions {
  const options: AdjustOptions = {};
  for (const item of text.split(',').filter((part) => part !== '')) {
    const [key, value] = item.split('=', 2) as [string, string | undefined];
    if (value === undefined) throw usageError(`${source}: expected cpu=MIN:MAX, memory=MIN:MAX or interval=MS, got ${JSON.stringify(item)}`);
    if (key === 'interval') options.interval = positive(source, value, Number(value));
    else if (key === 'cpu') options.cpu = bounds(source, value, (part) => positive(source, part, Number(part)));
    else if (key === 'memory') options.memory = bounds(source, value, (part) => positive(source, part, parseBytes(source, part)));
    else throw usageError(`${source}: unknown resource ${JSON.stringify(key)}: use cpu, memory or interval`);
  }
  if (options.cpu === undefined && options.memory === undefined) throw usageError(`${source}: give cpu=MIN:MAX or memory=MIN:MAX`);
  return options;
}

function bounds(source: string, value: string, parse: (part: string) => number): { min: number; max: number } {
  const parts = value.split(':');
  if (parts.length !== 2) throw usageError(`${source}: expected MIN:MAX, got ${JSON.stringify(value)}`);
  const [min, max] = parts.map(parse) as [number, number];
  if (min > max) throw usageError(`${source}: the minimum ${parts[0]} is above the maximum ${parts[1]}`);
  return { min, max };
}

function positive(source: string, text: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw usageError(`${source}: ${JSON.stringify(text)} must be a positive number`);
  return value;
}

/** Reads the adjust annotation of a spec; undefined when it has none. Invalid text is a usage error naming the annotation. */
export function adjustOptionsOf(spec: ContainerSpec): AdjustOptions | undefined {
  const text = spec.annotations?.[ADJUST_ANNOTATION];
  return text === undefined ? undefined : parseAdjust(`annotation ${ADJUST_ANNOTATION}`, text);
}

/**
 * Starts pressure-driven adjustment for a running container and prints each change as an audit
 * line on stderr. Where the kernel has no PSI it prints a warning once and stays off. Returns the stop function.
 */
export function startAdjust(handle: ContainerHandle, options: AdjustOptions): () => void {
  const controller = adjustResources(handle.container, options);
  if (!controller.available) {
    process.stderr.write(`bulkhead: warning: pressure-driven adjustment is off: ${controller.unavailableReason}\n`);
    return () => {};
  }
  controller.on('adjust', (event) => process.stderr.write(`bulkhead: audit: ${JSON.stringify(event)}\n`));
  controller.on('error', (error) => process.stderr.write(`bulkhead: warning: adjust: ${error.message}\n`));
  controller.start();
  return () => controller.stop();
}
