// Bundles the command line's entry (dist/cli/main.js, the package's bin) in place of tsc's output,
// the modules each command loads when it runs in chunks of their own beside it (dist/cli/chunk-*.js):
// a recording's first sample waits for the modules the main thread loads before it, one by one.
// tsc's per-file output stays for the rest of dist/ (bench/), which imports it. Modules in the chunks
// that find files from import.meta.url (report/assets.ts, cli/version.ts, sampler/worker-start.ts)
// name them from dist/'s level below, the same from dist/cli/ as from their own directory.
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const dir = 'dist/cli';
for (const f of readdirSync(dir)) if (/^chunk-.*\.js(\.map)?$/.test(f)) rmSync(`${dir}/${f}`);

await build({
  entryPoints: [`${dir}/main.js`],
  outdir: dir,
  outbase: dir,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  chunkNames: 'chunk-[hash]',
  // Packages stay outside, but commander, which every command loads before it runs.
  plugins: [
    {
      name: 'packages-but-commander',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (a) =>
          a.path === 'commander' ? undefined : { path: a.path, external: true },
        );
      },
    },
  ],
  // commander's CommonJS asks require() for Node's modules.
  banner: {
    js: "import { createRequire as __luaprofRequire } from 'node:module'; const require = __luaprofRequire(import.meta.url);",
  },
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});
