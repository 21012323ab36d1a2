import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { BulkheadError, ErrorCode } from '@bulkhead/core';

/**
 * The file operations the drivers use. Cgroup files are small and served by the kernel, so the
 * calls are synchronous. Tests pass a recording fake instead of `nodeCgroupFs`.
 */
export interface CgroupFs {
  /** Reads a file; throws an error whose `code` is the errno name. */
  read(path: string): string;
  /** Writes a value in one write(2), as cgroup files require. */
  write(path: string, value: string): void;
  exists(path: string): boolean;
  /** Creates a directory; returns false when it already existed. */
  mkdir(path: string): boolean;
  rmdir(path: string): void;
}

export const nodeCgroupFs: CgroupFs = {
  read: (path) => readFileSync(path, 'utf8'),
  write: (path, value) => writeFileSync(path, value),
  exists: (path) => existsSync(path),
  mkdir(path) {
    try {
      mkdirSync(path, { mode: 0o755 });
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw error;
    }
  },
  rmdir: (path) => rmdirSync(path),
};

export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** Writes a cgroup file, failing with one line that names the value, the file and the errno. */
export function writeFile(fs: CgroupFs, path: string, value: string): void {
  try {
    fs.write(path, value);
  } catch (error) {
    throw new BulkheadError(ErrorCode.SYSCALL_FAILED, `write ${JSON.stringify(value)} to ${path}: ${errorCode(error)}`, { cause: error });
  }
}

/** Reads a cgroup file, failing with one line that names the file and the errno. */
export function readFile(fs: CgroupFs, path: string): string {
  try {
    return fs.read(path);
  } catch (error) {
    throw new BulkheadError(ErrorCode.SYSCALL_FAILED, `read ${path}: ${errorCode(error)}`, { cause: error });
  }
}

/** Reads a file that may be missing, such as a counter of a newer kernel. */
export function readOptional(fs: CgroupFs, path: string): string | undefined {
  return fs.exists(path) ? readFile(fs, path) : undefined;
}
