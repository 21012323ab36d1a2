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
  [['tmpcopyup'], { unsupported: ['tmpcopyup'] }],
];

for (const [options, expected] of cases) {
  test(`mount options ${options.join(',')}`, (t) => {
    const parsed = parseMountOptions(options);
    for (const [key, value] of Object.entries(expected)) t.deepEqual(parsed[key as keyof typeof parsed], value, key);
  });
}
