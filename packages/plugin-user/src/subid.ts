import { readFileSync } from 'node:fs';
import type { IdMapping } from '@bulkhead/core';

/** One line of /etc/subuid or /etc/subgid: `count` ids from `start` on, delegated to `owner`. */
export interface SubordinateRange {
  owner: string;
  start: number;
  count: number;
}

/** Parses /etc/subuid or /etc/subgid ("owner:start:count" lines); a missing file has no ranges. */
export function readSubordinateRanges(path: string): SubordinateRange[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text.split('\n').flatMap((line) => {
    const [owner, start, count] = line.trim().split(':');
    if (owner === undefined || owner === '' || owner.startsWith('#')) return [];
    const range = { owner, start: Number(start), count: Number(count) };
    return Number.isSafeInteger(range.start) && Number.isSafeInteger(range.count) ? [range] : [];
  });
}

/**
 * True when the mapping's host ids are the caller's own id or lie inside one range delegated to
 * the caller, by name or by numeric id, as newuidmap and newgidmap check them.
 */
export function isDelegated(mapping: IdMapping, ranges: readonly SubordinateRange[], owner: { name: string; id: number }): boolean {
  if (mapping.size === 1 && mapping.hostID === owner.id) return true;
  return ranges.some(
    (range) => (range.owner === owner.name || range.owner === String(owner.id)) && mapping.hostID >= range.start && mapping.hostID + mapping.size <= range.start + range.count,
  );
}
