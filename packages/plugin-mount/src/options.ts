import type { MountFlag } from '@bulkhead/core';

/** A mount's options, split into what mount(2) takes as flags and what it takes as data. */
export interface ParsedOptions {
  /** Flags set on the mount. */
  flags: MountFlag[];
  /** Propagation to apply after mounting, such as MS_PRIVATE, with MS_REC for the r-variants. */
  propagation: MountFlag[];
  bind: boolean;
  recursive: boolean;
  /** Options passed to the filesystem as mount(2)'s data, such as mode=755. */
  data: string[];
  /** An idmapped bind mount: `idmap` idmaps the mount itself, `ridmap` its submounts too. */
  idmap: 'none' | 'idmap' | 'ridmap';
  /** Options this runtime does not support, reported by validation. */
  unsupported: string[];
}

/** Options that set a flag, and those that clear one ("rw" clears MS_RDONLY). */
const SETS: Record<string, MountFlag> = {
  ro: 'MS_RDONLY',
  nosuid: 'MS_NOSUID',
  nodev: 'MS_NODEV',
  noexec: 'MS_NOEXEC',
  sync: 'MS_SYNCHRONOUS',
  dirsync: 'MS_DIRSYNC',
  remount: 'MS_REMOUNT',
  mand: 'MS_MANDLOCK',
  noatime: 'MS_NOATIME',
  nodiratime: 'MS_NODIRATIME',
  relatime: 'MS_RELATIME',
  strictatime: 'MS_STRICTATIME',
  nosymfollow: 'MS_NOSYMFOLLOW',
  lazytime: 'MS_LAZYTIME',
  silent: 'MS_SILENT',
};

const CLEARS: Record<string, MountFlag> = {
  rw: 'MS_RDONLY',
  suid: 'MS_NOSUID',
  dev: 'MS_NODEV',
  exec: 'MS_NOEXEC',
  async: 'MS_SYNCHRONOUS',
  nomand: 'MS_MANDLOCK',
  atime: 'MS_NOATIME',
  diratime: 'MS_NODIRATIME',
  norelatime: 'MS_RELATIME',
  nostrictatime: 'MS_STRICTATIME',
  symfollow: 'MS_NOSYMFOLLOW',
  nolazytime: 'MS_LAZYTIME',
  loud: 'MS_SILENT',
};

const PROPAGATION: Record<string, MountFlag[]> = {
  private: ['MS_PRIVATE'],
  rprivate: ['MS_PRIVATE', 'MS_REC'],
  shared: ['MS_SHARED'],
  rshared: ['MS_SHARED', 'MS_REC'],
  slave: ['MS_SLAVE'],
  rslave: ['MS_SLAVE', 'MS_REC'],
  unbindable: ['MS_UNBINDABLE'],
  runbindable: ['MS_UNBINDABLE', 'MS_REC'],
};

/** Options that other runtimes accept but bulkhead does not implement yet. */
const UNSUPPORTED = new Set(['tmpcopyup', 'copy-symlink']);

/** Parses OCI mount options (the fstab words) in order; a later word overrides an earlier one. */
export function parseMountOptions(options: readonly string[] = []): ParsedOptions {
  const flags = new Set<MountFlag>();
  const parsed: ParsedOptions = { flags: [], propagation: [], bind: false, recursive: false, idmap: 'none', data: [], unsupported: [] };
  for (const option of options) {
    if (option === 'bind' || option === 'rbind') {
      parsed.bind = true;
      parsed.recursive ||= option === 'rbind';
    } else if (option === 'idmap' || option === 'ridmap') {
      parsed.idmap = option;
    } else if (option in SETS) {
      flags.add(SETS[option]!);
    } else if (option in CLEARS) {
      flags.delete(CLEARS[option]!);
    } else if (option in PROPAGATION) {
      parsed.propagation = PROPAGATION[option]!;
    } else if (UNSUPPORTED.has(option) || option.startsWith('X-')) {
      if (!option.startsWith('X-')) parsed.unsupported.push(option);
    } else if (option !== 'defaults') {
      parsed.data.push(option);
    }
  }
  parsed.flags = [...flags];
  return parsed;
}
