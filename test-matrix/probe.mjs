#!/usr/bin/env node
// Fallback kernel feature probe, used when `bulkhead features --json` is missing or fails.
// Reads only /proc and /sys, so it needs no native code: a syscall counts as present when
// its entry point is in /proc/kallsyms (names are readable even with kptr_restrict set).
import fs from 'node:fs';
import os from 'node:os';

const SYSCALLS = ['pidfd_open', 'clone3', 'openat2', 'open_tree', 'move_mount', 'fsopen', 'mount_setattr'];

const read = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

function probeCgroup() {
  const v2Controllers = (read('/sys/fs/cgroup/cgroup.controllers') ?? read('/sys/fs/cgroup/unified/cgroup.controllers') ?? '').split(/\s+/).filter(Boolean);
  const v1Controllers = fs.existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? []
    : (read('/proc/self/mountinfo') ?? '').split('\n').filter((line) => line.includes(' - cgroup ')).flatMap((line) => line.split(' ').pop().split(',')).filter((option) => /^[a-z_]+$/.test(option) && !['rw', 'ro'].includes(option)).sort();
  let mode = 'none';
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) mode = 'v2';
  else if (fs.existsSync('/sys/fs/cgroup/unified')) mode = 'hybrid';
  else if (v1Controllers.length) mode = 'v1';
  return { mode, v1Controllers: [...new Set(v1Controllers)], v2Controllers };
}

function probeSyscalls() {
  const symbols = read('/proc/kallsyms') ?? '';
  return Object.fromEntries(SYSCALLS.map((name) => [name, new RegExp(` __(x64|do)_sys_${name}$`, 'm').test(symbols)]));
}

export function probe() {
  return {
    kernel: os.release(),
    namespaces: fs.readdirSync('/proc/self/ns').filter((name) => !name.endsWith('_for_children')),
    cgroup: probeCgroup(),
    seccomp: { actions: (read('/proc/sys/kernel/seccomp/actions_avail') ?? '').trim().split(/\s+/).filter(Boolean) },
    syscalls: probeSyscalls(),
    lsm: (read('/sys/kernel/security/lsm') ?? '').trim().split(',').filter(Boolean),
    probe: 'test-matrix/probe.mjs',
  };
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(JSON.stringify(probe(), null, 2) + '\n');
