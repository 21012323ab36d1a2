import test from 'ava';
import { readLsmStatus } from '@bulkhead/plugin-lsm';
import { bulkhead, leftoverCgroups, listDir, ociBundle, rootTest, stateRoot, uniqueId } from './helpers.js';

// The kernel this runs on decides the outcome: these tests check the rejection on kernels without
// the LSM, which is what a host without AppArmor or SELinux gives. The AppArmor suite of the
// kernel matrix (test-matrix/suites/apparmor.test.mjs) runs a container under a real profile.
const active = readLsmStatus().active;

const cases = [
  { lsm: 'apparmor', field: 'process.apparmorProfile', change: (config: Record<string, any>) => (config.process.apparmorProfile = 'bulkhead-test') },
  { lsm: 'selinux', field: 'process.selinuxLabel', change: (config: Record<string, any>) => (config.process.selinuxLabel = 'system_u:system_r:container_t:s0') },
  { lsm: 'selinux', field: 'linux.mountLabel', change: (config: Record<string, any>) => (config.linux.mountLabel = 'system_u:object_r:container_file_t:s0') },
];

for (const { lsm, field, change } of cases) {
  (active.includes(lsm) ? test.skip : rootTest)(`${field} without ${lsm} is rejected`, async (t) => {
    const dir = await ociBundle(change);
    const root = stateRoot();
    const id = uniqueId('lsm');
    const result = await bulkhead(['--root', root, 'run', '--bundle', dir, id]);
    t.is(result.code, 1);
    t.regex(result.stderr.trim(), new RegExp(`^[^\\n]*${field.replace('.', '\\.')}: needs the ${lsm} LSM, which the running kernel does not have \\([^\\n]*\\)$`));
    t.deepEqual(listDir(root), []);
    t.deepEqual(leftoverCgroups(id), []);
  });
}

test('features report the active LSMs', async (t) => {
  const features = JSON.parse((await bulkhead(['features'])).stdout);
  t.is(features.linux.apparmor.enabled, active.includes('apparmor'));
  t.is(features.linux.selinux.enabled, active.includes('selinux'));
});
