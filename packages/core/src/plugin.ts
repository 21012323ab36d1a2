import { createRequire } from 'node:module';
import { HookError, PluginConflictError, PluginInvalidError } from './errors.js';
import { SYNC_HOOKS, type HookName, type Hooks, type PluginHooks } from './hooks.js';
import type { NamespaceType } from './spec.js';

/** The version of this core, which plugins' `core` ranges are checked against. */
export const CORE_VERSION = '0.1.0';

/**
 * A plugin: a name, the core versions it supports, what it owns, and `apply`, which taps hooks.
 * A plugin keeps no module-level state: what it must undo later goes on the container's undo stack
 * or into its record.
 */
export interface Plugin {
  /** Unique name, also used as the tap name, such as "@bulkhead/plugin-pid". */
  readonly name: string;
  /** semver range of core versions the plugin supports, such as "^0.1.0". */
  readonly core: string;
  /** Namespaces and spec fields the plugin owns. The runtime rejects two plugins that claim the same one. */
  readonly owns?: {
    namespaces?: readonly NamespaceType[];
    /** Spec fields as JSON paths, such as "hostname" or "linux.resources.memory". */
    fields?: readonly string[];
  };
  apply(api: PluginApi): void;
}

/** Argument of `apply`. */
export interface PluginApi {
  readonly hooks: PluginHooks;
}

/** Keeps who claimed which namespace and field, and refuses a second claim naming both plugins. */
export class Claims {
  private readonly owners = new Map<string, string>();

  add(plugin: Plugin): void {
    const claims = [...(plugin.owns?.namespaces ?? []).map((ns) => `the ${ns} namespace`), ...(plugin.owns?.fields ?? []).map((field) => `the spec field ${field}`)];
    for (const claim of claims) {
      const owner = this.owners.get(claim);
      if (owner !== undefined) throw new PluginConflictError(claim, [owner, plugin.name]);
    }
    for (const claim of claims) this.owners.set(claim, plugin.name);
  }

  /** Returns a plugin that claims this field or a field inside it, if any. */
  fieldOwner(field: string): string | undefined {
    const claim = `the spec field ${field}`;
    for (const [owned, plugin] of this.owners) {
      if (owned === claim || owned.startsWith(`${claim}.`)) return plugin;
    }
    return undefined;
  }

  /** Returns the plugin that owns a namespace type, if any. */
  namespaceOwner(type: NamespaceType): string | undefined {
    return this.owners.get(`the ${type} namespace`);
  }
}

export function checkPlugin(plugin: Plugin): void {
  const name = typeof plugin?.name === 'string' && plugin.name !== '' ? plugin.name : '(unnamed)';
  if (name === '(unnamed)') throw new PluginInvalidError(name, 'has no name');
  if (typeof plugin.apply !== 'function') throw new PluginInvalidError(name, 'has no apply function');
  if (typeof plugin.core !== 'string' || !supportsCore(plugin.core)) {
    throw new PluginInvalidError(name, `supports core ${String(plugin.core)}, but this core is ${CORE_VERSION}`);
  }
}

/**
 * Tells whether a plugin's core range admits this core. A plain caret range of a released
 * version ("^0.1.0"), which nearly every plugin declares, is decided here. Any other range goes
 * to semver, which is loaded only then, because building its regular expressions costs several
 * milliseconds of every start.
 */
function supportsCore(range: string): boolean {
  const caret = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range.trim());
  if (caret === null) {
    const satisfies = createRequire(import.meta.url)('semver/functions/satisfies.js') as (version: string, range: string) => boolean;
    return satisfies(CORE_VERSION, range);
  }
  const [major, minor, patch] = caret.slice(1).map(Number) as [number, number, number];
  const [coreMajor, coreMinor, corePatch] = CORE_VERSION.split('.').map(Number) as [number, number, number];
  // semver's caret: the left-most non-zero part is fixed, the rest may only grow.
  if (coreMajor !== major) return false;
  if (major === 0 && coreMinor !== minor) return false;
  if (major === 0 && minor === 0) return corePatch === patch;
  return coreMinor > minor || (coreMinor === minor && corePatch >= patch);
}

/**
 * Builds the tap-only hooks one plugin receives. Each tap is registered under the plugin's name
 * and wrapped once: whatever it throws becomes a HookError naming the hook and the plugin.
 */
export function pluginHooks(hooks: Hooks, plugin: string): PluginHooks {
  const facades: Record<string, unknown> = {};
  for (const name of Object.keys(hooks) as HookName[]) {
    const hook = hooks[name] as unknown as {
      tap(options: string, fn: (...args: unknown[]) => void): void;
      tapPromise?(options: string, fn: (...args: unknown[]) => Promise<void>): void;
    };
    const facade: Record<string, unknown> = {
      tap: (fn: (...args: unknown[]) => void) => hook.tap(plugin, (...args) => wrapSync(name, plugin, fn, args)),
    };
    // tapable's SyncHook also has a tapPromise, which throws: only async hooks offer it here.
    if (!SYNC_HOOKS.has(name) && hook.tapPromise !== undefined) {
      const tapPromise = hook.tapPromise.bind(hook);
      facade['tapPromise'] = (fn: (...args: unknown[]) => Promise<void>) => tapPromise(plugin, (...args) => wrapAsync(name, plugin, fn, args));
    }
    facades[name] = Object.freeze(facade);
  }
  return Object.freeze(facades) as PluginHooks;
}

function wrapSync(hook: string, plugin: string, fn: (...args: unknown[]) => void, args: unknown[]): void {
  try {
    fn(...args);
  } catch (error) {
    throw wrapError(hook, plugin, error);
  }
}

async function wrapAsync(hook: string, plugin: string, fn: (...args: unknown[]) => Promise<void>, args: unknown[]): Promise<void> {
  try {
    await fn(...args);
  } catch (error) {
    throw wrapError(hook, plugin, error);
  }
}

function wrapError(hook: string, plugin: string, error: unknown): Error {
  return error instanceof HookError ? error : new HookError(hook, plugin, error);
}
