// Runs one container with the network plugin, from whichever network namespace this process is
// in: the overlay test starts it with `ip netns exec` so that each "host" is a namespace of the
// test's own. Arguments: state root, annotations as JSON, then the command. SIGTERM stops the
// container, which is then deleted; the exit code is the container's.
import { OCI_VERSION, Runtime, exitCodeOf } from '@bulkhead/core';
import { namespacesPlugin } from '@bulkhead/core/testing';
import { netPlugin } from '../src/index.js';

const [stateRoot, annotations, ...args] = process.argv.slice(2);
const runtime = new Runtime({ stateRoot: stateRoot! }).use(namespacesPlugin(['pid', 'mount'])).use(netPlugin());
const spec = {
  ociVersion: OCI_VERSION,
  process: { args, cwd: '/', env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
  linux: { namespaces: [{ type: 'pid' as const }, { type: 'mount' as const }, { type: 'network' as const }] },
  annotations: JSON.parse(annotations!) as Record<string, string>,
};
const status = await runtime.run(spec, {
  onStart: (handle) => {
    process.stdout.write('started\n');
    process.once('SIGTERM', () => handle.kill(9));
  },
});
process.exitCode = exitCodeOf(status);
