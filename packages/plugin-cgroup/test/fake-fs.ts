import type { CgroupFs } from '../src/fs.js';

/** A fake cgroup filesystem: files and directories in a map, and every write recorded. */
export class FakeFs implements CgroupFs {
  readonly writes: [string, string][] = [];
  constructor(readonly files = new Map<string, string>()) {}
  read(path: string): string {
    const value = this.files.get(path);
    if (value === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
    return value;
  }
  write(path: string, value: string): void {
    this.writes.push([path, value]);
    this.files.set(path, value);
  }
  exists(path: string): boolean {
    return this.files.has(path);
  }
  mkdir(path: string): boolean {
    if (this.files.has(path)) return false;
    this.files.set(path, '<dir>');
    for (const [file, value] of [['cgroup.controllers', 'cpu io memory pids'], ['memory.swap.max', 'max'], ['io.weight', 'default 100']]) this.files.set(`${path}/${file}`, value!);
    return true;
  }
  rmdir(path: string): void {
    this.files.delete(path);
  }
}
