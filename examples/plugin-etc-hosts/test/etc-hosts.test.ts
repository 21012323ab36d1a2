import test from 'ava';
import { baseSpec, planOf, runContainer } from '@bulkhead/testkit';
import { etcHostsPlugin, HOSTS_ANNOTATION, renderHosts } from '../src/index.js';

const rootTest = process.getuid?.() === 0 ? test : test.skip;

test('renders localhost, hostname and extra entries', (t) => {
  const spec = baseSpec(['true']);
  spec.hostname = 'box';
  spec.annotations = { [HOSTS_ANNOTATION]: 'db:10.0.0.2,cache:10.0.0.2,v6:fd00::1' };
  t.is(renderHosts(spec, [{ name: 'api', address: '10.0.0.3' }]), [
    '127.0.0.1\tlocalhost\n',
    '::1\tlocalhost ip6-localhost ip6-loopback\n',
    '127.0.1.1\tbox\n',
    '10.0.0.3\tapi\n',
    '10.0.0.2\tdb cache\n',
    'fd00::1\tv6\n',
  ].join(''));
});

test('plans a read-only bind mount over /etc/hosts', (t) => {
  const { steps } = planOf([etcHostsPlugin()], baseSpec(['true'], '/'));
  t.deepEqual(steps.map((s) => [s.phase, s.step.op, (s.step as { target?: { path: string } }).target?.path]), [
    ['filesystem', 'mount', '/etc/hosts'],
    ['filesystem', 'mount', '/etc/hosts'],
  ]);
  t.like(steps[1]!.step, { flags: ['MS_BIND', 'MS_REMOUNT', 'MS_RDONLY', 'MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'] });
});

test('rejects a bad annotation entry naming the field', (t) => {
  const spec = baseSpec(['true'], '/');
  spec.annotations = { [HOSTS_ANNOTATION]: 'db:10.0.0.2,web:not-an-ip' };
  t.throws(() => planOf([etcHostsPlugin()], spec), { message: `annotations.${HOSTS_ANNOTATION}: invalid entry "web:not-an-ip": invalid address "not-an-ip": expected an IPv4 or IPv6 address` });
});

test('rejects a bad configured entry at once', (t) => {
  t.throws(() => etcHostsPlugin({ hosts: { 'bad name': '10.0.0.1' } }), { message: /hosts\.bad name: invalid host name/ });
});

rootTest('the container reads its generated /etc/hosts, read-only', async (t) => {
  const result = await runContainer(['sh', '-c', 'cat /etc/hosts; echo x >> /etc/hosts || echo read-only'], {
    plugins: [etcHostsPlugin({ hosts: { api: '10.0.0.3' } })],
    spec: (spec) => {
      spec.hostname = 'box';
    },
  });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^127\.0\.0\.1\tlocalhost\n/);
  t.regex(result.stdout, /\n127\.0\.1\.1\tbox\n10\.0\.0\.3\tapi\nread-only\n$/);
  t.regex(result.stderr, /Read-only file system/);
});
