import { cpSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bulkhead, fixtures, listDir, rootTest, stateRoot, temporaryDir, uniqueId } from './helpers.js';

const ID_HOOKED = uniqueId('hooked');
const ID_BROKEN = uniqueId('broken');
const ID_SLOW = uniqueId('slow');
const ID_WARNED = uniqueId('warned');

/** A bundle whose hooks all run one script that appends its hook point, the state's status and its uts namespace to a log. */
async function hookBundle(hooks: (script: string) => Record<string, unknown>): Promise<{ dir: string; hostLog: string; containerLog: string }> {
  const { busybox } = await fixtures();
  const dir = temporaryDir('bulkhead-hooks-');
  cpSync(busybox, join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  const hostLog = join(dir, 'host.log');
  const script = (log: string) => `#!/bin/sh\necho "$1 $(cat | sed 's/.*"status":"\\([a-z]*\\)".*/\\1/') $(readlink /proc/self/ns/uts)" >> ${log}\n`;
  writeFileSync(join(dir, 'hook.sh'), script(hostLog), { mode: 0o755 });
  writeFileSync(join(dir, 'rootfs/hook.sh'), script('/tmp/hooks.log'), { mode: 0o755 });
  await bulkhead(['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.root.readonly = false;
  config.process.args = ['true'];
  config.hooks = hooks(join(dir, 'hook.sh'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return { dir, hostLog, containerLog: join(dir, 'rootfs/tmp/hooks.log') };
}

rootTest('hooks run at their points with the status the runtime-spec says', async (t) => {
  const at = (script: string, point: string) => [{ path: script, args: ['hook.sh', point] }];
  const { dir, hostLog, containerLog } = await hookBundle((script) => ({
    createRuntime: at(script, 'createRuntime'),
    createContainer: at(script, 'createContainer'),
    startContainer: [{ path: '/hook.sh', args: ['hook.sh', 'startContainer'] }],
    poststart: at(script, 'poststart'),
    poststop: at(script, 'poststop'),
  }));
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'run', '--bundle', dir, ID_HOOKED]);
  t.is(result.code, 0, result.stderr);
  const hostNs = readlinkSync('/proc/self/ns/uts');
  const lines = readFileSync(hostLog, 'utf8').trim().split('\n').map((line) => line.split(' '));
  t.deepEqual(
    lines.map(([point, status]) => `${point} ${status}`),
    ['createRuntime created', 'createContainer created', 'poststart running', 'poststop stopped'],
  );
  t.is(lines[0]![2], hostNs, 'createRuntime runs in the runtime namespace');
  t.not(lines[1]![2], hostNs, 'createContainer runs in the container namespace');
  t.regex(readFileSync(containerLog, 'utf8'), /^startContainer created uts:/, 'startContainer runs in the container, with its root');
  t.deepEqual(listDir(root), []);
});

rootTest('failing createRuntime hook aborts create naming the hook', async (t) => {
  const { dir } = await hookBundle(() => ({ createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] }));
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'create', '--bundle', dir, ID_BROKEN]);
  t.is(result.code, 1);
  t.is(result.stderr, 'bulkhead: createRuntime hook of plugin @bulkhead/plugin-hooks: createRuntime hook 0 (/bin/sh) failed with exit status 3\n');
  t.deepEqual(listDir(root), []);
});

rootTest('hook past its timeout is killed and named', async (t) => {
  const { dir } = await hookBundle(() => ({ createRuntime: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] }));
  const root = stateRoot();
  const result = await bulkhead(['--root', root, 'create', '--bundle', dir, ID_SLOW]);
  t.regex(result.stderr, /createRuntime hook 0 \(\/bin\/sleep\) timed out after 1 s/);
  t.deepEqual(listDir(root), []);
});

rootTest('failing poststart hook only warns', async (t) => {
  const { dir } = await hookBundle(() => ({ poststart: [{ path: '/bin/false' }] }));
  const result = await bulkhead(['--root', stateRoot(), 'run', '--bundle', dir, ID_WARNED]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stderr, 'bulkhead: warning: poststart hook 0 (/bin/false) failed with exit status 1\n');
});
