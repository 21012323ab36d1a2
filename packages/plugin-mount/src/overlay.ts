import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Container, Plan, SpecProblem } from '@bulkhead/core';

/** An overlay root: the spec's `root.path` is the read-only lower layer, shared by every container that uses it. */
export interface OverlayRoot {
  /** Keep the container's upper layer (its changes) when the container is deleted. */
  keep?: boolean;
}

/** Record of a container's overlay in the mount plugin's state, from which `delete` in any process removes it. */
export interface OverlayRecord {
  directory: string;
  keep: boolean;
}

/** Characters that overlayfs's option parser treats as separators or escapes; paths that contain them are rejected. */
const OVERLAY_SPECIAL = /[,:\\]/;

/** Returns the problems of image and state paths that cannot be passed to overlayfs. */
export function overlayPathProblems(image: string, stateRoot: string): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (OVERLAY_SPECIAL.test(image)) problems.push({ path: 'root.path', message: `${image}: an overlay's image path must not contain ',', ':' or '\\'` });
  if (OVERLAY_SPECIAL.test(stateRoot)) problems.push({ path: 'root.path', message: `the state root ${stateRoot} must not contain ',', ':' or '\\' to hold overlay layers` });
  return problems;
}

/**
 * Directory of a container's upper and work directories: `<state root>/.overlay/<id>`. It is
 * outside the container's state directory so that `keep` can leave it after delete; the leading
 * dot keeps it out of the container list.
 */
export function overlayDirectory(container: Container): string {
  return join(dirname(container.stateDir), '.overlay', container.id);
}

/**
 * Creates the upper and work directories and registers their removal, unless they are to be
 * kept. The layer directory is made first, with an exclusive mkdir, so that a layer another
 * container kept under the same id fails this one with EEXIST and is never removed by its undo.
 */
export async function prepareOverlay(container: Container, plugin: string, options: OverlayRoot): Promise<OverlayRecord> {
  const directory = overlayDirectory(container);
  const record: OverlayRecord = { directory, keep: options.keep === true };
  mkdirSync(dirname(directory), { recursive: true, mode: 0o700 });
  mkdirSync(directory, { mode: 0o700 });
  if (!record.keep) container.undo.defer(`remove overlay layer ${directory}`, () => removeOverlay(record));
  Object.assign(container.record(plugin), { overlay: record });
  await container.saveState();

  // overlayfs needs upper and work on one filesystem, which they are as siblings.
  // NOTE: both belong to the host's root. In a user namespace whose root maps to another uid, the
  // container cannot write to them, because nothing chowns them to the mapped uid yet.
  mkdirSync(join(directory, 'upper'), { mode: 0o755 });
  mkdirSync(join(directory, 'work'), { mode: 0o700 });
  mkdirSync(mountPoint(container), { mode: 0o700 });
  return record;
}

/** Removes the layer unless it is to be kept; removing it twice is harmless. */
export function removeOverlay(record: OverlayRecord): void {
  if (!record.keep) rmSync(record.directory, { recursive: true, force: true });
}

function mountPoint(container: Container): string {
  return join(container.stateDir, 'rootfs');
}

/**
 * Plans the overlay on `<state dir>/rootfs` inside the container's mount namespace, so the host's
 * mount table gets no entry, and opens it as the root. overlayfs writes only to the upper layer,
 * never to the image.
 */
export function planOverlayRoot(plan: Plan, plugin: string, container: Container, image: string): void {
  const directory = overlayDirectory(container);
  const data = `lowerdir=${image},upperdir=${join(directory, 'upper')},workdir=${join(directory, 'work')}`;
  plan.add(plugin, 'filesystem', { op: 'mount', source: 'overlay', target: { path: mountPoint(container) }, fstype: 'overlay', flags: [], data, create: 'none' });
  plan.add(plugin, 'filesystem', { op: 'open-root', path: mountPoint(container), slot: 'rootfs' });
}
