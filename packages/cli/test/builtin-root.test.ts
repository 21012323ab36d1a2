import { readFileSync } from 'node:fs';
import { bulkhead, hostMounts, listDir, rootTest, stateRoot } from './helpers.js';

rootTest('built-in root runs host binaries read-only', async (t) => {
  const root = stateRoot();
  const before = hostMounts();
  const result = await bulkhead(['--root', root, 'run', '--', 'sh', '-c', 'echo $$; cat /etc/os-release; touch /usr/bulkhead-probe /bulkhead-probe 2>&1; touch /tmp/ok && echo tmp-writable; df -k /tmp | tail -1']);
  const lines = result.stdout.split('\n');
  t.is(lines[0], '1');
  t.true(result.stdout.includes(readFileSync('/etc/os-release', 'utf8')));
  t.regex(result.stdout, /Read-only file system/);
  t.regex(result.stdout, /touch: cannot touch '\/usr\/bulkhead-probe': Read-only file system/);
  t.regex(result.stdout, /touch: cannot touch '\/bulkhead-probe': Read-only file system/);
  t.regex(result.stdout, /tmp-writable/);
  t.regex(result.stdout, /tmpfs\s+65536\s/, '/tmp is 64 MiB');
  t.deepEqual(hostMounts(), before);
  t.deepEqual(listDir(root), []);
});

rootTest('built-in root hides password hashes', async (t) => {
  const result = await bulkhead(['run', '--', 'wc', '-c', '/etc/shadow']);
  t.is(result.stdout, '0 /etc/shadow\n');
});
