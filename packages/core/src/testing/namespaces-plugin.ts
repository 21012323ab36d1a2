import type { Plugin } from '../plugin.js';
import type { NamespaceType } from '../spec.js';

/**
 * Creates a plugin that plans new namespaces of the given types and nothing else, so that a test
 * can run containers on the host's root without the namespace plugins.
 */
export function namespacesPlugin(types: readonly NamespaceType[] = ['pid', 'mount']): Plugin {
  const name = 'test-namespaces';
  return {
    name,
    core: '^0.1.0',
    owns: { namespaces: types },
    apply({ hooks }) {
      hooks.plan.tap((plan) => {
        for (const type of types) plan.namespace(name, type);
      });
    },
  };
}
