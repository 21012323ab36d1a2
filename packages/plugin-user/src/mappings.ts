import type { IdMapping, ValidationContext } from '@bulkhead/core';

/** The kernel's limit on lines in uid_map and gid_map since Linux 4.15. */
export const MAX_MAP_LINES = 340;
/** Ids are 32 bits wide, and (uid_t)-1 is never a valid id. */
const ID_LIMIT = 2 ** 32 - 1;

export type MapKind = 'uid' | 'gid';

/** The spec field of each map. */
export const MAP_FIELDS: Readonly<Record<MapKind, string>> = Object.freeze({ uid: 'linux.uidMappings', gid: 'linux.gidMappings' });

/** Formats mappings as /proc/PID/uid_map and gid_map take them: one "containerID hostID size" line each. */
export function formatMap(mappings: readonly IdMapping[]): string {
  return mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

/** Returns the ranges as newuidmap and newgidmap take them after the pid. */
export function helperArguments(mappings: readonly IdMapping[]): string[] {
  return mappings.flatMap((m) => [String(m.containerID), String(m.hostID), String(m.size)]);
}

/**
 * Reports what the kernel would reject in a map: an empty map, too many lines, ranges outside the
 * 32-bit id space, and ranges that overlap on either side.
 */
export function validateMappings(validation: ValidationContext, field: string, mappings: readonly IdMapping[]): void {
  if (mappings.length === 0) validation.problem(field, 'must contain at least one mapping');
  if (mappings.length > MAX_MAP_LINES) validation.problem(field, `has ${mappings.length} mappings, more than the kernel's limit of ${MAX_MAP_LINES}`);
  mappings.forEach((m, i) => {
    const path = `${field}[${i}]`;
    if (m.size < 1) validation.problem(`${path}.size`, `must be at least 1, got ${m.size}`);
    for (const side of ['containerID', 'hostID'] as const) {
      if (m[side] < 0 || m[side] + m.size > ID_LIMIT) validation.problem(`${path}.${side}`, `range ${m[side]}+${m.size} is outside the 32-bit ids 0 to ${ID_LIMIT - 1}`);
    }
    for (let j = 0; j < i; j++) {
      for (const side of ['containerID', 'hostID'] as const) {
        if (overlaps(m[side], m.size, mappings[j]![side], mappings[j]!.size)) validation.problem(`${path}.${side}`, `range overlaps ${field}[${j}]`);
      }
    }
  });
}

function overlaps(start: number, size: number, otherStart: number, otherSize: number): boolean {
  return start < otherStart + otherSize && otherStart < start + size;
}

/** True when the container id falls inside one of the mappings. */
export function isMapped(mappings: readonly IdMapping[], id: number): boolean {
  return mappings.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

/** True when the map is only the caller's own id, which an unprivileged process may write without helpers. */
export function isOwnIdOnly(mappings: readonly IdMapping[], ownId: number): boolean {
  return mappings.length === 1 && mappings[0]!.size === 1 && mappings[0]!.hostID === ownId;
}
