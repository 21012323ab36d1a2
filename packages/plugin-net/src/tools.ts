import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/**
 * The host tools the plugin drives: iproute2 (`ip`, `tc`), `nft` and `ethtool`, batched so that a
 * container's links take one process each. `netns` is the pid of a process whose network
 * namespace the command runs in, entered with nsenter(1). Tests pass a recording fake.
 */
export interface NetTools {
  /** Runs `ip -batch -`; with `force`, continues after a failed line (`ip -force`) and does not fail. */
  ip(commands: readonly string[], options?: { netns?: number; force?: boolean }): Promise<void>;
  /** Runs `tc -batch -`. */
  tc(commands: readonly string[]): Promise<void>;
  /** Applies a ruleset with `nft -f -`. */
  nft(ruleset: string, options?: { netns?: number; force?: boolean }): Promise<void>;
  /** Runs `nft -j` with these arguments and returns the parsed JSON. */
  nftJson(args: readonly string[], options?: { netns?: number }): Promise<unknown>;
  /** Runs `bridge -batch -`. */
  bridge(commands: readonly string[]): Promise<void>;
  /** Runs `ethtool -K DEVICE FEATURE on|off...`, which changes a device's offload features. */
  ethtool(device: string, features: readonly string[], options?: { netns?: number }): Promise<void>;
  /** True when a network interface of this name exists in the host's namespace. */
  linkExists(name: string): boolean;
  /** Returns the MTU of a host interface. */
  mtu(name: string): number;
}

export const hostTools: NetTools = {
  async ip(commands, options = {}) {
    const args = [...(options.force === true ? ['-force'] : []), '-batch', '-'];
    await run('ip', args, commands.join('\n') + '\n', options.netns, options.force === true);
  },
  async tc(commands) {
    await run('tc', ['-batch', '-'], commands.join('\n') + '\n');
  },
  async nft(ruleset, options = {}) {
    await run('nft', ['-f', '-'], ruleset, options.netns, options.force === true);
  },
  async nftJson(args, options = {}) {
    return JSON.parse(await run('nft', ['-j', ...args], '', options.netns)) as unknown;
  },
  async bridge(commands) {
    await run('bridge', ['-batch', '-'], commands.join('\n') + '\n');
  },
  async ethtool(device, features, options = {}) {
    await run('ethtool', ['-K', device, ...features], '', options.netns);
  },
  linkExists(name) {
    return existsSync(`/sys/class/net/${name}`);
  },
  mtu(name) {
    return Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8'));
  },
};

/** Directories of the system's tools, searched in order. */
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

/**
 * Returns the path of the system's copy of a tool. A PATH lookup is not enough: under npm scripts PATH starts with
 * node_modules/.bin, where a JavaScript package may install a command named nft.
 */
function systemTool(name: string): string {
  return SYSTEM_DIRS.map((dir) => `${dir}/${name}`).find((path) => existsSync(path)) ?? name;
}

/** Debian packages of the tools that iproute2 does not provide. */
const PACKAGES: Record<string, string> = { nft: 'nftables', nsenter: 'util-linux', ethtool: 'ethtool' };

/** Runs a tool with its input on stdin; fails with the tool's first error line, unless `tolerant`. */
function run(tool: string, args: readonly string[], input: string, netns?: number, tolerant = false): Promise<string> {
  const [file, argv] = netns === undefined ? [systemTool(tool), args] : [systemTool('nsenter'), [`--net=/proc/${netns}/ns/net`, '--', systemTool(tool), ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => reject(new Error(`run ${tool}: ${(error as NodeJS.ErrnoException).code ?? error.message}${(error as NodeJS.ErrnoException).code === 'ENOENT' ? `: is ${PACKAGES[tool] ?? 'iproute2'} installed?` : ''}`)));
    child.on('close', (code) => {
      if (code === 0 || tolerant) resolve(stdout);
      else reject(new Error(`${tool} ${args.join(' ')}${netns === undefined ? '' : ` in the network namespace of ${netns}`}: ${firstLine(stderr) ?? `exit status ${code}`}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

function firstLine(text: string): string | undefined {
  return text.split('\n').find((line) => line.trim() !== '')?.trim();
}
