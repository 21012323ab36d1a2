// Suite requirements: each suite in suites.json may require root, a kernel version,
// a cgroup mode (or a list of them), an LSM, or a feature from the kernel's feature probe. A suite
// whose requirement is unmet is skipped with the reason, never run and failed.

/** Parses "6.1.0-57-amd64" or "7.3" into [major, minor]. */
export function parseKernelVersion(release) {
  const match = String(release).match(/^(\d+)\.(\d+)/);
  if (!match) throw new Error(`requirements: invalid kernel version "${release}"`);
  return [Number(match[1]), Number(match[2])];
}

/** Returns true when release satisfies a ">=X.Y" or "<X.Y" range. */
export function kernelSatisfies(release, range) {
  const match = range.match(/^(>=|<)\s*(\d+\.\d+)$/);
  if (!match) throw new Error(`requirements: invalid kernel range "${range}": expected >=X.Y or <X.Y`);
  const [major, minor] = parseKernelVersion(release);
  const [wantMajor, wantMinor] = parseKernelVersion(match[2]);
  const atLeast = major > wantMajor || (major === wantMajor && minor >= wantMinor);
  return match[1] === '>=' ? atLeast : !atLeast;
}

/**
 * Looks a feature up in a probe result of any shape: by dotted path ("syscalls.clone3") or by the
 * last key of any path ("clone3"), so requirements survive changes to the probe's layout.
 * Returns the value, or undefined when the probe has no such key.
 */
export function findFeature(features, name) {
  const flat = flatten(features);
  if (name in flat) return flat[name];
  const key = Object.keys(flat).find((path) => path === name || path.endsWith(`.${name}`));
  return key === undefined ? undefined : flat[key];
}

function flatten(value, prefix = '', out = {}) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

/**
 * Returns the reason a suite must be skipped on this machine, or null when every requirement is
 * met. machine: { uid, release, cgroup: 'v2' | 'v1' | 'hybrid', lsms: [names], features }.
 */
export function unmetRequirement(requires = {}, machine) {
  const features = [].concat(requires.feature ?? []);
  if (requires.root && machine.uid !== 0) return 'needs root';
  if (requires.kernel && !kernelSatisfies(machine.release, requires.kernel)) return `needs kernel ${requires.kernel}, running ${machine.release}`;
  const cgroups = [].concat(requires.cgroup ?? []);
  if (cgroups.length && !cgroups.includes(machine.cgroup)) return `needs cgroup ${cgroups.join(' or ')}, running ${machine.cgroup}`;
  if (requires.lsm && !machine.lsms.includes(requires.lsm)) return `needs the ${requires.lsm} LSM, active: ${machine.lsms.join(',') || 'none'}`;
  for (const name of features) {
    const value = findFeature(machine.features, name);
    if (!value) return `needs feature ${name}, the probe reports ${value === undefined ? 'nothing' : JSON.stringify(value)}`;
  }
  return null;
}
