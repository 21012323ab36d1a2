import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { apiLevel, libseccompVersion } from '@bulkhead/core';
import { compileProfile, type CompileContext, type CompiledProfile } from './compile.js';
import type { LinuxSeccomp } from './profile.js';

/** Bumped when the compiler changes what it emits for the same profile, so old entries stop matching. */
const CACHE_FORMAT = 1;
const MEMORY_ENTRIES = 32;
const GROUP_OR_OTHER_WRITE = 0o022;

/** The shape of one cache file. */
interface CacheEntry {
  key: string;
  flags: number;
  listener: boolean;
  bpf: string;
}

/**
 * Compiled profiles by a hash of everything the compiler reads: the profile, the bounding
 * capabilities and kernel release that includes and excludes test, the machine's arch, and
 * libseccomp's version and API level. Entries live in memory and, when `dir` is given, in files
 * there, so that the next `bulkhead` process skips libseccomp. The directory and its files
 * are only used when they are owned by this process's user and not writable by anyone else.
 */
export class CompileCache {
  private readonly memory = new Map<string, CompiledProfile>();
  private environment: string | undefined;

  constructor(private readonly dir?: string) {}

  /** Returns the cached program for the profile, or compiles it and stores the result. */
  compile(profile: LinuxSeccomp, context: CompileContext): CompiledProfile {
    const key = this.keyOf(profile, context);
    const cached = this.memory.get(key) ?? this.readFile(key);
    if (cached !== undefined) {
      this.remember(key, cached);
      return cached;
    }
    const compiled = compileProfile(profile, context);
    this.remember(key, compiled);
    this.writeFile(key, compiled);
    return compiled;
  }

  /** Returns the hex SHA-256 of the profile and everything else that changes its program. */
  keyOf(profile: LinuxSeccomp, context: CompileContext): string {
    this.environment ??= JSON.stringify({ format: CACHE_FORMAT, arch: arch(), libseccomp: libseccompVersion(), api: apiLevel() });
    const capabilities = [...context.capabilities].sort();
    return createHash('sha256').update(this.environment).update(JSON.stringify({ capabilities, kernelRelease: context.kernelRelease })).update(JSON.stringify(profile)).digest('hex');
  }

  private remember(key: string, compiled: CompiledProfile): void {
    this.memory.delete(key);
    this.memory.set(key, compiled);
    if (this.memory.size > MEMORY_ENTRIES) this.memory.delete(this.memory.keys().next().value!);
  }

  /** Reads an entry written by writeFile. A file that is missing, unsafe or malformed is a miss. */
  private readFile(key: string): CompiledProfile | undefined {
    if (this.dir === undefined || !this.safeDir(false)) return undefined;
    let fd: number;
    try {
      fd = openSync(join(this.dir, key), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile() || !ownedAndPrivate(stats)) return undefined;
      const entry = JSON.parse(readFileSync(fd, 'utf8')) as Partial<CacheEntry>;
      const bpf = typeof entry.bpf === 'string' ? Buffer.from(entry.bpf, 'base64') : Buffer.alloc(0);
      if (entry.key !== key || typeof entry.flags !== 'number' || typeof entry.listener !== 'boolean' || bpf.length === 0 || bpf.length % 8 !== 0) return undefined;
      return { bpf, flags: entry.flags, listener: entry.listener };
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Writes an entry through a temporary file and rename(2), so readers never see half a file. */
  private writeFile(key: string, compiled: CompiledProfile): void {
    if (this.dir === undefined || !this.safeDir(true)) return;
    const entry: CacheEntry = { key, flags: compiled.flags, listener: compiled.listener, bpf: compiled.bpf.toString('base64') };
    const temporary = join(this.dir, `${key}.${process.pid}.tmp`);
    try {
      const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, JSON.stringify(entry));
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, join(this.dir, key));
    } catch {
      // The cache only saves time: a full disk or a read-only directory costs a compile next time.
      try {
        unlinkSync(temporary);
      } catch {
        // Never created.
      }
    }
  }

  /** Checks that the directory is a real directory of this user that no one else can write, creating it if asked. */
  private safeDir(create: boolean): boolean {
    const dir = this.dir!;
    try {
      if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stats = lstatSync(dir);
      return stats.isDirectory() && ownedAndPrivate(stats);
    } catch {
      return false;
    }
  }
}

function ownedAndPrivate(stats: { uid: number; mode: number }): boolean {
  return stats.uid === process.getuid?.() && (stats.mode & GROUP_OR_OTHER_WRITE) === 0;
}
