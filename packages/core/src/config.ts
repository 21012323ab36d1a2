import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpecError } from './errors.js';
import type { ContainerSpec } from './spec.js';

/** The newest runtime-spec minor version of major version 1 that this model was checked against. */
const NEWEST_MINOR = 3;

/**
 * Reads <bundle>/config.json. Malformed JSON and an unsupported ociVersion are spec errors
 * naming the file; a newer minor version of 1.x is accepted with a warning, since the
 * runtime-spec only adds fields within a major version.
 */
export function readConfig(bundle: string, warn: (message: string) => void = () => {}): ContainerSpec {
  const path = join(bundle, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SpecError([{ path, message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw new SpecError([{ path, message: `invalid JSON: ${(error as Error).message}` }]);
  }
  checkVersion(spec, warn);
  return spec as ContainerSpec;
}

function checkVersion(spec: unknown, warn: (message: string) => void): void {
  const version = (spec as { ociVersion?: unknown } | null)?.ociVersion;
  if (typeof version !== 'string') return; // The shape check reports it with the other problems.
  const match = /^(\d+)\.(\d+)\.\d+/.exec(version);
  if (match === null || match[1] !== '1') {
    throw new SpecError([{ path: 'ociVersion', message: `unsupported version ${JSON.stringify(version)}: this runtime implements runtime-spec 1.0 to 1.${NEWEST_MINOR}` }]);
  }
  if (Number(match[2]) > NEWEST_MINOR) warn(`ociVersion ${version} is newer than 1.${NEWEST_MINOR}: fields added since are ignored`);
}
