import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parseContainerFlags } from '../src/flags.js';
import { mountOptionsFromFlags, readMountPolicy } from '../src/mount-flags.js';
import { bulkhead, temporaryDir } from './helpers.js';

test('etc flags become the etcFiles option', (t) => {
  const flags = parseContainerFlags(['--add-host', 'db:192.0.2.7', '--dns', '192.0.2.53', '--dns-search', 'example.test', '--dns-option', 'ndots:2', '--etc-hostname', 'true']);
  t.deepEqual(mountOptionsFromFlags(flags), {
    etcFiles: {
      hostname: true,
      hosts: { entries: [{ name: 'db', address: '192.0.2.7' }] },
      resolvConf: { nameservers: ['192.0.2.53'], search: ['example.test'], options: ['ndots:2'] },
    },
  });
});

test('plain etc flags ask for the default files', (t) => {
  t.deepEqual(mountOptionsFromFlags(parseContainerFlags(['--etc-hosts', '--etc-resolv-conf', 'true'])), { etcFiles: { hosts: true, resolvConf: true } });
});

test('image flag asks for an overlay and keeps the policy', (t) => {
  const flags = parseContainerFlags(['--image', '/srv/image', '--keep', 'true']);
  t.deepEqual(mountOptionsFromFlags(flags, { policy: { maxMounts: 3 } }), { policy: { maxMounts: 3 }, overlay: { keep: true } });
});

const usage: [string[], string][] = [
  [['--image', '/a', '--rootfs', '/b', 'true'], 'flags --image and --rootfs exclude each other: --image mounts an overlay with the image as its lower layer'],
  [['--keep', 'true'], 'flag --keep needs --image: it keeps the overlay upper layer'],
  [['--add-host', 'nocolon', 'true'], 'flag --add-host "nocolon": expected NAME:ADDRESS'],
  [['--keep=yes', 'true'], 'flag --keep takes no value'],
];
for (const [argv, message] of usage) {
  test(`run flags ${argv.slice(0, 2).join(' ')} are a usage error`, (t) => {
    t.throws(() => parseContainerFlags(argv), { message });
  });
}

test('mount policy file is read and checked', (t) => {
  const dir = temporaryDir('bulkhead-policy-');
  writeFileSync(join(dir, 'good.json'), '{"maxMounts": 4, "force": {"nosuid": true}}');
  writeFileSync(join(dir, 'bad.json'), '{"maxMounts": "4"}');
  t.deepEqual(readMountPolicy(join(dir, 'good.json')), { maxMounts: 4, force: { nosuid: true } });
  t.throws(() => readMountPolicy(join(dir, 'bad.json')), { message: `flag --mount-policy ${join(dir, 'bad.json')}: maxMounts: must be a non-negative integer` });
  t.throws(() => readMountPolicy(join(dir, 'missing.json')), { message: `flag --mount-policy ${join(dir, 'missing.json')}: ENOENT` });
});

test('invalid mount policy exits with a usage error', async (t) => {
  const result = await bulkhead(['--mount-policy', '/nonexistent/policy.json', 'run', 'true']);
  t.is(result.code, 2);
  t.is(result.stderr, 'bulkhead: flag --mount-policy /nonexistent/policy.json: ENOENT\n');
});

test('plan shows the overlay and the written files', async (t) => {
  const image = temporaryDir('bulkhead-image-');
  const result = await bulkhead(['plan', '--id', 'planned', '--image', image, '--etc-hosts', '--', 'true']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, new RegExp(`mount overlay "overlay" on "/run/bulkhead/planned/rootfs" \\(lowerdir=${image},upperdir=/run/bulkhead/.overlay/planned/upper,workdir=/run/bulkhead/.overlay/planned/work\\)`));
  t.regex(result.stdout, /bind "\/run\/bulkhead\/planned\/etc\/hosts" on "\/etc\/hosts" in root rootfs/);
});
