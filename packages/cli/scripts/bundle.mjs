// Bundles the CLI into one ES module, dist/bulkhead.mjs, which bin/bulkhead.js loads. Resolving
// and loading some forty separate modules costs a cold `bulkhead run` about 70 ms, a third of its
// time; one file avoids nearly all of it. Native and lazily loaded packages stay external.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/main.js'],
  outfile: 'dist/bulkhead.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // Smaller source parses faster at every start; names stay for stack traces and error names.
  minify: true,
  keepNames: true,
  external: ['ffi-rs', '@yuuang/*', 'pino', 'semver'],
  // Bundled CommonJS dependencies (tapable) call require() for Node's built-in modules.
  banner: { js: "import { createRequire as __bulkheadCreateRequire } from 'node:module'; const require = __bulkheadCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
