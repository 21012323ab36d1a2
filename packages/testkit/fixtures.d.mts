/** Paths of the cached fixture root filesystems. Never write into them: copy them first. */
export interface FixturePaths {
  busybox: string;
  debian: string;
}

/** Builds any missing or outdated fixture (as root) and returns the rootfs paths. */
export function ensureFixtures(): Promise<FixturePaths>;

/** Builds the fixtures and prints their paths as JSON; sets a non-zero exit code on failure. */
export function main(): Promise<void>;
