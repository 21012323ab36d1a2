import test from 'ava';
import { parseMountOptions } from '../src/index.js';

const cases: [string[], Partial<ReturnType<typeof parseMountOptions>>][] = [
  [['nosuid', 'noexec', 'nodev'], { flags: ['MS_NOSUID', 'MS_NOEXEC', 'MS_NODEV'] }],
  [['ro', 'rw'], { flags: [] }],
  [['rw', 'ro'], { flags: ['MS_RDONLY'] }],
  [['rbind', 'ro'], { bind: true, recursive: true, flags: ['MS_RDONLY'] }],
  [['bind'], { bind: true, recursive: false }],
  [['mode=755', 'size=65536k'], { data: ['mode=755', 'size=65536k'] }],
  [['rslave'], { propagation: ['MS_SLAVE', 'MS_REC'] }],
  [['private'], { propagation: ['MS_PRIVATE'] }],
  [['defaults', 'X-mount.mkdir'], { flags: [], data: [] }],
  [['idmap'], { idmap: 'idmap', unsupported: [] }],
  [['rbind', 'ridmap'], { idmap: 'ridmap', recursive: true }],
  [['tmpcopyup'], { copyUp: true, unsupported: [], data: [] }],
  [['copy-symlink'], { unsupported: ['copy-symlink'] }],
  [['rbind', 'rro', 'rnosuid'], { flags: [], recursiveAttrs: { set: ['MOUNT_ATTR_RDONLY', 'MOUNT_ATTR_NOSUID'], clear: [], options: ['rro', 'rnosuid'] } }],
  [['rro', 'rrw'], { recursiveAttrs: { set: [], clear: ['MOUNT_ATTR_RDONLY'], options: ['rro', 'rrw'] } }],
  [['rnoatime'], { recursiveAttrs: { set: ['MOUNT_ATTR_NOATIME'], clear: ['MOUNT_ATTR__ATIME'], options: ['rnoatime'] } }],
  [['rnoatime', 'rrelatime'], { recursiveAttrs: { set: [], clear: ['MOUNT_ATTR__ATIME'], options: ['rnoatime', 'rrelatime'] } }],
  [['relatime', 'noatime'], { flags: ['MS_RELATIME', 'MS_NOATIME'] }],
  [['mode=1777', 'uid=1000', 'gid=1000', 'size=1m'], { data: ['mode=1777', 'uid=1000', 'gid=1000', 'size=1m'] }],
];

for (const [options, expected] of cases) {
  test(`mount options ${options.join(',')}`, (t) => {
    const parsed = parseMountOptions(options);
    for (const [key, value] of Object.entries(expected)) t.deepEqual(parsed[key as keyof typeof parsed], value, key);
  });
}
