import type { PathArg, PlannedStep, Step } from './steps.js';

const quote = (value: string) => JSON.stringify(value);

/** prctl(2) options that plugins use, by their kernel names. */
const PRCTL_OPTIONS: Record<number, string> = { 1: 'PR_SET_PDEATHSIG', 4: 'PR_SET_DUMPABLE', 8: 'PR_SET_KEEPCAPS', 24: 'PR_CAPBSET_DROP', 38: 'PR_SET_NO_NEW_PRIVS', 47: 'PR_CAP_AMBIENT' };

function where(target: PathArg): string {
  return target.root === undefined ? quote(target.path) : `${quote(target.path)} in root ${target.root}`;
}

const rlimitValue = (value: number) => (value === -1 ? 'unlimited' : String(value));

/** Describes a step in one line, as `bulkhead plan` prints it and step errors name it. */
export function describeStep(step: Step): string {
  switch (step.op) {
    case 'open-root':
      return `open root ${quote(step.path)} as ${step.slot}`;
    case 'mount': {
      const what = step.flags.includes('MS_BIND') ? `bind ${quote(step.source ?? '')}` : `mount ${step.fstype ?? 'none'} ${quote(step.source ?? 'none')}`;
      const options = [...step.flags, ...(step.data === null ? [] : [step.data])].join(',');
      return `${what} on ${where(step.target)}${options === '' ? '' : ` (${options})`}${step.nofollow === true ? ' without following symlinks' : ''}`;
    }
    case 'mount-slot':
      return `bind ${step.slot} on ${where(step.target)}${step.flags.length === 0 ? '' : ` (${step.flags.join(',')})`}`;
    case 'mknod':
      return `mknod ${where(step.target)} ${step.type} ${step.major}:${step.minor} mode ${step.mode.toString(8)} uid ${step.uid} gid ${step.gid}`;
    case 'mount-setattr':
      return `mount_setattr ${where(step.target)} set [${step.set.join(',')}] clear [${step.clear.join(',')}]${step.propagation === null ? '' : ` ${step.propagation}`}${step.recursive ? ' recursive' : ''}`;
    case 'mkdir':
      return `mkdir ${where(step.target)} mode ${step.mode.toString(8)}`;
    case 'symlink':
      return `symlink ${where(step.link)} -> ${quote(step.linkTarget)}`;
    case 'pivot-root':
      return `pivot_root into ${step.slot}`;
    case 'sethostname':
      return `sethostname ${quote(step.name)}`;
    case 'setdomainname':
      return `setdomainname ${quote(step.name)}`;
    case 'chdir':
      return `chdir ${quote(step.path)}`;
    case 'barrier':
      return `wait at the ${step.barrier} barrier`;
    case 'exec':
      return `exec ${quote(step.file)}`;
    case 'init':
      return 'fork, staying as a minimal init that reaps and forwards signals';
    case 'write-file':
      return `write ${quote(step.data)} to ${where(step.target)}`;
    case 'setgroups':
      return `setgroups [${step.gids.join(',')}]`;
    case 'setresgid':
      return `setresgid ${step.gid}`;
    case 'setresuid':
      return `setresuid ${step.uid}`;
    case 'setrlimit':
      return `setrlimit ${step.name ?? `resource ${step.resource}`} soft ${rlimitValue(step.soft)} hard ${rlimitValue(step.hard)}`;
    case 'prctl':
      return `prctl ${PRCTL_OPTIONS[step.option] ?? step.option} ${step.name ?? step.args.join(' ')}`;
    case 'umask':
      return `umask ${step.mask.toString(8)}`;
    case 'open-path':
      return `open ${quote(step.path)} as ${step.slot}`;
    case 'wait-fifo':
      return `wait until start opens the FIFO ${step.slot}`;
    case 'unshare':
      return `unshare ${step.namespaces.join(', ')} namespace${step.namespaces.length === 1 ? '' : 's'}`;
    case 'seccomp':
      return `load seccomp filter of ${step.filter.length / 8} instructions${step.flags === 0 ? '' : ` flags 0x${step.flags.toString(16)}`}${step.listener ? ' with a notification listener' : ''}`;
    case 'capset':
      return `capset effective ${capabilitySet(step.effective, step.names?.effective)} permitted ${capabilitySet(step.permitted, step.names?.permitted)} inheritable ${capabilitySet(step.inheritable, step.names?.inheritable)}`;
    case 'idmap-tree': {
      const map = (mappings: { containerID: number; hostID: number; size: number }[]) => mappings.map((m) => `${m.containerID}:${m.hostID}:${m.size}`).join(',');
      return `idmap ${step.recursive ? 'recursive ' : ''}tree ${quote(step.source)} as ${step.slot} with uids ${map(step.uidMappings)} gids ${map(step.gidMappings)}${step.recursiveIdmap ? ' recursively' : ''} (setup stage, before clone)`;
    }
    case 'move-mount':
      return `attach ${step.slot} on ${where(step.target)}`;
    case 'link-up':
      return `set interface ${step.name} up${step.address === undefined ? '' : ` with ${step.address.ip}/${step.address.prefix}`}${step.gateway === undefined ? '' : `, default route via ${step.gateway}`}`;
    case 'terminal': {
      const size = step.rows > 0 && step.cols > 0 ? ` of ${step.rows}x${step.cols}` : '';
      return `open a pty${size} in /dev/ptmx, send its master over fd ${step.socket}, make the slave the controlling terminal${step.console ? ' and /dev/console' : ''}`;
    }
    case 'preserve-fds':
      return `pass fds ${step.first}..${step.first + step.count - 1} on as fds 3..${2 + step.count}`;
    case 'move-root':
      return `move ${step.slot} onto / and chroot into it (no pivot_root)`;
    case 'open-in-root':
      return `open directory ${where(step.target)} as ${step.slot}`;
    case 'copy-tree':
      return `copy the contents of ${step.slot} into ${where(step.target)}${step.topMetadata ? ' with its owner and mode' : ''}`;
  }
}

function capabilitySet(mask: bigint, names: string[] | undefined): string {
  return names === undefined ? `0x${mask.toString(16)}` : `[${names.join(',')}]`;
}

/** Returns a hint for errno and step pairs whose cause is well known. */
export function stepHint(step: Step, errnoName: string): string | undefined {
  if (step.op === 'exec' && errnoName === 'ENOENT') {
    return step.file.includes('/') ? 'no such file in the container' : "executable not found in the container's PATH";
  }
  if (step.op === 'exec' && errnoName === 'EACCES') return 'the file is not executable, or a directory on its path is not searchable';
  if (step.op === 'exec' && errnoName === 'ENOEXEC') return 'the file is neither a binary for this machine nor a script with a #! line';
  if (step.op === 'mount' && step.create !== 'none' && errnoName === 'ENOENT') return 'the target, or a symlink on its path, names a missing directory inside the root';
  if (step.op === 'mount' && step.nofollow === true && (errnoName === 'ELOOP' || errnoName === 'ENOTDIR')) return 'procfs and sysfs mount only on a real directory, and the target or a directory on its path is a symlink or not a directory';
  if (step.op === 'mount' && step.flags.includes('MS_REMOUNT') && errnoName === 'EPERM') return 'the kernel refused to change flags it locked on this mount, such as nosuid in a user namespace';
  if (step.op === 'mknod' && errnoName === 'EPERM') return 'creating device nodes needs CAP_MKNOD in the initial user namespace';
  if (step.op === 'mount-setattr' && errnoName === 'ENOSYS') return 'mount_setattr needs Linux 5.12';
  if (step.op === 'setrlimit' && errnoName === 'EPERM') return `raising the hard limit of ${step.name ?? `resource ${step.resource}`} needs CAP_SYS_RESOURCE, which this runtime lacks`;
  if (step.op === 'seccomp' && errnoName === 'EACCES') return 'loading a filter needs no_new_privs or CAP_SYS_ADMIN: set process.noNewPrivileges';
  if (step.op === 'seccomp' && errnoName === 'EINVAL') return 'the kernel rejected the filter or one of its flags; `bulkhead features` lists what it supports';
  if (step.op === 'capset' && errnoName === 'EPERM') return 'a set asks for a capability that the runtime itself lacks, or the inheritable set for one outside the bounding set';
  if (step.op === 'idmap-tree' && ['EINVAL', 'ENOSYS', 'EPERM'].includes(errnoName)) {
    return 'idmapped mounts need Linux 5.12 or later (mount_setattr with MOUNT_ATTR_IDMAP), a filesystem that supports them, and root';
  }
  if (step.op === 'terminal' && errnoName === 'ENOENT') return 'the container has no /dev/ptmx: mount a devpts at /dev/pts with newinstance,ptmxmode=0666';
  if (step.op === 'terminal' && errnoName === 'EPIPE') return 'the console socket was closed before it received the pty';
  if (step.op === 'move-root' && errnoName === 'EINVAL') return 'the root is not a mount point, or its parent mount is shared';
  if (step.op === 'open-root' && errnoName === 'ENOENT') return 'the root filesystem directory does not exist';
  if (step.op === 'open-root' && errnoName === 'ENOTDIR') return 'the root filesystem path is not a directory';
  return undefined;
}

/** Formats a plan's steps, one per line, for people. */
export function formatSteps(steps: readonly PlannedStep[]): string {
  return steps.map((planned, index) => `${String(index).padStart(3)}  ${planned.phase.padEnd(10)} ${planned.plugin.padEnd(24)} ${describeStep(planned.step)}${planned.tolerate.length > 0 ? `  [tolerates ${planned.tolerate.join(',')}]` : ''}`).join('\n');
}
