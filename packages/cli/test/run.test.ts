import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { bulkhead, fixtures, hostMounts, listDir, rootTest, RUNNING_SECONDS, stateRoot, TIME_SCALE, uniqueId, waitFor } from './helpers.js';

const ID_ORPHANED = uniqueId('orphaned');

rootTest('command is PID 1 in the busybox root', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['--root', stateRoot(), 'run', '--rootfs', busybox, '--', 'sh', '-c', 'echo $$']);
  t.is(result.stderr, '');
  t.is(result.stdout, '1\n');
  t.is(result.code, 0);
});

rootTest('ps sees only the container processes', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, '--', 'sh', '-c', 'ps -o pid,comm; true']);
  const rows = result.stdout.trim().split('\n').slice(1).map((line) => line.trim().split(/\s+/));
  t.deepEqual(
    rows.map(([, comm]) => comm),
    ['sh', 'ps'],
  );
  t.is(rows[0]![0], '1');
});

rootTest('hostname is the container own', async (t) => {
  const { busybox } = await fixtures();
  const before = hostname();
  const result = await bulkhead(['run', '--rootfs', busybox, '--hostname', 'box', 'hostname']);
  t.is(result.stdout, 'box\n');
  t.is(hostname(), before, 'host hostname unchanged');
});

rootTest('mountinfo shows only the container mounts', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, 'cat', '/proc/self/mountinfo']);
  const points = result.stdout.trim().split('\n').map((line) => line.split(' ')[4]!);
  t.is(points[0], '/');
  t.deepEqual(
    points.filter((point) => !/^\/(proc|dev|sys)(\/|$)/.test(point)),
    ['/'],
  );
  t.deepEqual(
    points.filter((point) => /^\/(proc|dev|sys)$/.test(point)),
    ['/proc', '/dev', '/sys'],
  );
  t.false(points.includes('/sys/fs/cgroup'), 'no host cgroup mounts');
});

rootTest('masked and read-only paths are in place', async (t) => {
  const { busybox } = await fixtures();
  const script = 'wc -c < /proc/keys; ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname 2>/dev/null || echo read-only';
  const result = await bulkhead(['run', '--rootfs', busybox, '--', 'sh', '-c', script]);
  t.is(result.stdout, '0\n0\nread-only\n');
});

rootTest('debian root reads its own os-release and runs dpkg', async (t) => {
  const { debian } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', debian, '--hostname', 'deb', '--', 'sh', '-c', 'echo $$; hostname; cat /etc/os-release; dpkg-query -W -f=\'${Status}\' dpkg']);
  const [pid, name] = result.stdout.split('\n');
  t.is(pid, '1');
  t.is(name, 'deb');
  t.regex(result.stdout, /PRETTY_NAME="Debian GNU\/Linux 12 \(bookworm\)"/);
  t.regex(result.stdout, /install ok installed$/);
  t.is(result.code, 0);
});

rootTest('host mount table and state root are unchanged after a run', async (t) => {
  const { busybox } = await fixtures();
  const root = stateRoot();
  const before = hostMounts();
  const result = await bulkhead(['--root', root, 'run', '--rootfs', busybox, 'true']);
  t.is(result.code, 0);
  t.deepEqual(hostMounts(), before);
  t.deepEqual(listDir(root), []);
});

rootTest('exit code is the command exit code', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, '--', 'sh', '-c', 'exit 7']);
  t.is(result.code, 7);
});

rootTest('exit code is 128+N when the command dies of signal N', async (t) => {
  const { busybox } = await fixtures();
  // With --init the shell is not PID 1, so it can kill itself.
  const result = await bulkhead(['run', '--init', '--rootfs', busybox, '--', 'sh', '-c', 'kill -KILL $$']);
  t.is(result.code, 137);
});

rootTest('stdin and stdout pass through', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, 'cat'], { input: 'through the container\n' });
  t.is(result.stdout, 'through the container\n');
});

rootTest('env and cwd flags reach the process', async (t) => {
  const { busybox } = await fixtures();
  const result = await bulkhead(['run', '--rootfs', busybox, '--env', 'GREETING=hi', '--cwd', '/tmp', '--', 'sh', '-c', 'echo $GREETING; pwd']);
  t.is(result.stdout, 'hi\n/tmp\n');
});

rootTest('SIGTERM sent to bulkhead reaches the container', async (t) => {
  const { busybox } = await fixtures();
  const { spawn } = await import('node:child_process');
  const { BULKHEAD } = await import('./helpers.js');
  const child = spawn(process.execPath, [BULKHEAD, 'run', '--rootfs', busybox, '--', 'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGTERM');
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 42);
});

rootTest('init reaps orphans and forwards SIGINT', async (t) => {
  const { busybox } = await fixtures();
  const { spawn } = await import('node:child_process');
  const { BULKHEAD } = await import('./helpers.js');
  const script = 'sleep 0.01 & trap "exit 3" INT; echo ready; ps -o pid,comm | grep -c init; while :; do sleep 0.05; done';
  const child = spawn(process.execPath, [BULKHEAD, 'run', '--init', '--rootfs', busybox, '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 200));
  child.kill('SIGINT');
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 3);
  t.true(stdout.startsWith('ready\n'));
});

rootTest('container dies when bulkhead is killed', async (t) => {
  const { busybox } = await fixtures();
  const { spawn } = await import('node:child_process');
  const { BULKHEAD } = await import('./helpers.js');
  const root = stateRoot();
  const child = spawn(process.execPath, [BULKHEAD, '--root', root, 'run', '--id', ID_ORPHANED, '--rootfs', busybox, '--', 'sh', '-c', `echo ready; sleep ${RUNNING_SECONDS}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  // "ready" comes before the shell execs sleep, so wait for the sleep itself.
  let container: number | undefined;
  await waitFor(() => (container = childrenOf(child.pid!).find((pid) => commOf(pid) === 'sleep')) !== undefined);
  t.truthy(container, 'the container process is a child of bulkhead');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  t.true(await gone(container!), 'container process exited');
  // What a killed bulkhead could not undo, delete --force removes from the container's record.
  t.is((await bulkhead(['--root', root, 'delete', '--force', ID_ORPHANED])).code, 0);
  t.deepEqual(listDir(root), []);
});

/** Returns the command name of a process, or undefined when it is gone. */
function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return new RegExp(`^PPid:\\s+${pid}$`, 'm').test(readFileSync(`/proc/${entry}/status`, 'utf8'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 * TIME_SCALE; i++) {
    try {
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
      if (state === 'Z') return true;
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}
