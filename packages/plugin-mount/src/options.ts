import type { MountAttr, MountFlag } from '@bulkhead/core';

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
  /** tmpcopyup: a tmpfs starts with a copy of what the directory it covers holds. */
  copyUp: boolean;
  /** Options this runtime does not support, reported by validation. */
  unsupported: string[];
  /** mount_setattr(2) attributes of the recursive options (rro, rnosuid, ...), for the mount and every mount below it. */
  recursiveAttrs: { set: MountAttr[]; clear: MountAttr[]; options: string[] };
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

/**
 * The recursive options, applied with mount_setattr(AT_RECURSIVE): what each sets and clears.
 * The atime options clear the whole atime field first, because the kernel takes one atime mode.
 * "ratime" and "rnostrictatime" go back to the default, relatime, and "rnorelatime" means strictatime.
 */
const RECURSIVE: Record<string, { set: MountAttr[]; clear: MountAttr[] }> = {
  rro: { set: ['MOUNT_ATTR_RDONLY'], clear: [] },
  rrw: { set: [], clear: ['MOUNT_ATTR_RDONLY'] },
  rnosuid: { set: ['MOUNT_ATTR_NOSUID'], clear: [] },
  rsuid: { set: [], clear: ['MOUNT_ATTR_NOSUID'] },
  rnodev: { set: ['MOUNT_ATTR_NODEV'], clear: [] },
  rdev: { set: [], clear: ['MOUNT_ATTR_NODEV'] },
  rnoexec: { set: ['MOUNT_ATTR_NOEXEC'], clear: [] },
  rexec: { set: [], clear: ['MOUNT_ATTR_NOEXEC'] },
  rnosymfollow: { set: ['MOUNT_ATTR_NOSYMFOLLOW'], clear: [] },
  rsymfollow: { set: [], clear: ['MOUNT_ATTR_NOSYMFOLLOW'] },
  rnodiratime: { set: ['MOUNT_ATTR_NODIRATIME'], clear: [] },
  rdiratime: { set: [], clear: ['MOUNT_ATTR_NODIRATIME'] },
  rrelatime: { set: [], clear: ['MOUNT_ATTR__ATIME'] },
  ratime: { set: [], clear: ['MOUNT_ATTR__ATIME'] },
  rnostrictatime: { set: [], clear: ['MOUNT_ATTR__ATIME'] },
  rnoatime: { set: ['MOUNT_ATTR_NOATIME'], clear: ['MOUNT_ATTR__ATIME'] },
  rstrictatime: { set: ['MOUNT_ATTR_STRICTATIME'], clear: ['MOUNT_ATTR__ATIME'] },
  rnorelatime: { set: ['MOUNT_ATTR_STRICTATIME'], clear: ['MOUNT_ATTR__ATIME'] },
};

/** Options that other runtimes accept but bulkhead does not implement yet. */
const UNSUPPORTED = new Set(['copy-symlink']);

/** Parses OCI mount options (the fstab words) in order; a later word overrides an earlier one. */
export function parseMountOptions(options: readonly string[] = []): ParsedOptions {
  const flags = new Set<MountFlag>();
  const set = new Set<MountAttr>();
  const clear = new Set<MountAttr>();
  const parsed: ParsedOptions = { flags: [], propagation: [], bind: false, recursive: false, idmap: 'none', data: [], copyUp: false, unsupported: [], recursiveAttrs: { set: [], clear: [], options: [] } };
  for (const option of options) {
    if (option === 'bind' || option === 'rbind') {
      parsed.bind = true;
      parsed.recursive ||= option === 'rbind';
    } else if (option === 'tmpcopyup') {
      parsed.copyUp = true;
    } else if (option === 'idmap' || option === 'ridmap') {
      parsed.idmap = option;
    } else if (option in SETS) {
      flags.add(SETS[option]!);
    } else if (option in CLEARS) {
      flags.delete(CLEARS[option]!);
    } else if (option in RECURSIVE) {
      applyRecursive(RECURSIVE[option]!, set, clear);
      parsed.recursiveAttrs.options.push(option);
    } else if (option in PROPAGATION) {
      parsed.propagation = PROPAGATION[option]!;
    } else if (UNSUPPORTED.has(option) || option.startsWith('X-')) {
      if (!option.startsWith('X-')) parsed.unsupported.push(option);
    } else if (option !== 'defaults') {
      parsed.data.push(option);
    }
  }
  parsed.flags = [...flags];
  parsed.recursiveAttrs.set = [...set];
  parsed.recursiveAttrs.clear = [...clear];
  return parsed;
}

/** Adds one recursive option to the attributes so far; a later option overrides an earlier one. */
function applyRecursive(option: { set: MountAttr[]; clear: MountAttr[] }, set: Set<MountAttr>, clear: Set<MountAttr>): void {
  if (option.clear.includes('MOUNT_ATTR__ATIME')) {
    for (const atime of ['MOUNT_ATTR_NOATIME', 'MOUNT_ATTR_STRICTATIME'] as const) set.delete(atime);
  }
  for (const attr of option.clear) {
    set.delete(attr);
    clear.add(attr);
  }
  for (const attr of option.set) {
    clear.delete(attr);
    set.add(attr);
  }
  if (set.has('MOUNT_ATTR_NOATIME') || set.has('MOUNT_ATTR_STRICTATIME')) clear.add('MOUNT_ATTR__ATIME');
}
