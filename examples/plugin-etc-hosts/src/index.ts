import { writeFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Container, ContainerSpec, Plugin, ValidationContext } from '@bulkhead/core';

export const PLUGIN_NAME = '@bulkhead-examples/plugin-etc-hosts';

/** The annotation that adds entries, in podman's --add-host form: "name:address,name:address". */
export const HOSTS_ANNOTATION = 'org.bulkhead.example.hosts';

export interface EtcHostsOptions {
  /** Entries every container of this runtime gets, name to IPv4 or IPv6 address. */
  hosts?: Record<string, string>;
}

/** One line of the generated file. */
interface HostEntry {
  address: string;
  names: string[];
}

/**
 * Gives each container its own /etc/hosts: localhost, the container's hostname, the runtime's
 * entries and those of the annotation. The file is written in the container's state directory
 * and bind-mounted read-only over /etc/hosts, so the root filesystem is never written.
 */
export function etcHostsPlugin(options: EtcHostsOptions = {}): Plugin {
  const configured = Object.entries(options.hosts ?? {}).map(([name, address]) => ({ name, address }));
  for (const { name, address } of configured) {
    const problem = checkEntry(name, address);
    if (problem !== undefined) throw new Error(`${PLUGIN_NAME}: hosts.${name}: ${problem}`);
  }
  return {
    name: PLUGIN_NAME,
    core: '^0.1.0',
    owns: { fields: [`annotations.${HOSTS_ANNOTATION}`] },
    apply({ hooks }) {
      hooks.validate.tap(validate);
      hooks.prepare.tapPromise(async (container) => writeHostsFile(container, configured));
      hooks.plan.tap((plan, container) => {
        const source = hostsFile(container);
        const target = { path: '/etc/hosts', root: 'rootfs' };
        plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source, target, fstype: null, flags: ['MS_BIND'], data: null, create: 'file' });
        plan.add(PLUGIN_NAME, 'filesystem', { op: 'mount', source: null, target, fstype: null, flags: ['MS_BIND', 'MS_REMOUNT', 'MS_RDONLY', 'MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: null, create: 'none' });
      });
    },
  };
}

/** Renders the file's text: one line per address, names in the order they were added. */
export function renderHosts(spec: ContainerSpec, extra: { name: string; address: string }[]): string {
  const entries: HostEntry[] = [
    { address: '127.0.0.1', names: ['localhost'] },
    { address: '::1', names: ['localhost', 'ip6-localhost', 'ip6-loopback'] },
  ];
  if (spec.hostname !== undefined) entries.push({ address: '127.0.1.1', names: [spec.hostname] });
  for (const { name, address } of [...extra, ...annotationEntries(spec)]) {
    const line = entries.find((entry) => entry.address === address);
    if (line === undefined) entries.push({ address, names: [name] });
    else if (!line.names.includes(name)) line.names.push(name);
  }
  return entries.map((entry) => `${entry.address}\t${entry.names.join(' ')}\n`).join('');
}

function validate(validation: ValidationContext): void {
  const path = `annotations.${HOSTS_ANNOTATION}`;
  if (validation.spec.root === undefined) validation.problem('root', `${PLUGIN_NAME} needs a root filesystem to mount /etc/hosts in`);
  const value = validation.spec.annotations?.[HOSTS_ANNOTATION];
  if (value === undefined) return;
  for (const item of value.split(',')) {
    const [name = '', address = ''] = splitEntry(item);
    const problem = checkEntry(name, address);
    if (problem !== undefined) validation.problem(path, `invalid entry ${JSON.stringify(item)}: ${problem}`);
  }
}

function checkEntry(name: string, address: string): string | undefined {
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(name)) return `invalid host name ${JSON.stringify(name)}: use letters, digits, '-' and '.'`;
  if (isIP(address) === 0) return `invalid address ${JSON.stringify(address)}: expected an IPv4 or IPv6 address`;
  return undefined;
}

/** Splits "name:address" at the first colon, so that IPv6 addresses keep theirs. */
function splitEntry(item: string): [string, string] {
  const colon = item.indexOf(':');
  return colon < 0 ? [item.trim(), ''] : [item.slice(0, colon).trim(), item.slice(colon + 1).trim()];
}

function annotationEntries(spec: ContainerSpec): { name: string; address: string }[] {
  const value = spec.annotations?.[HOSTS_ANNOTATION];
  if (value === undefined) return [];
  return value.split(',').map((item) => {
    const [name, address] = splitEntry(item);
    return { name, address };
  });
}

function hostsFile(container: Container): string {
  return join(container.stateDir, 'etc-hosts');
}

async function writeHostsFile(container: Container, configured: { name: string; address: string }[]): Promise<void> {
  const file = hostsFile(container);
  writeFileSync(file, renderHosts(container.spec, configured), { mode: 0o644, flag: 'wx' });
  container.undo.defer(`remove ${file}`, () => rmSync(file, { force: true }));
}
