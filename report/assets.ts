/** Locating the files a page inlines: our own templates (next to this module) and vendored packages. */
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// This module's directory, named from its parent: bundled into the CLI's chunks (dist/cli/,
// scripts/bundle-cli.mjs), import.meta.url is a chunk's, one level down from dist/ as this one is.
const here = dirname(fileURLToPath(new URL('../report/assets.js', import.meta.url)));

/** A template or script shipped next to this module (report/*.html|js|css, copied to dist/report by the build). */
export function ownAsset(name: string): string {
  return readFileSync(join(here, name), 'utf8');
}

/** Directory of an installed npm package, found by walking up node_modules from this module. */
export function packageDir(pkg: string): string {
  let dir = here;
  for (;;) {
    const cand = join(dir, 'node_modules', pkg);
    if (existsSync(join(cand, 'package.json'))) return cand;
    const up = dirname(dir);
    if (up === dir) throw new Error(`package ${pkg} is not installed (looked upwards from ${here})`);
    dir = up;
  }
}

const cache = new Map<string, string>();
/** Text of a file inside an installed package (cached). */
export function packageFile(pkg: string, rel: string): string {
  const key = `${pkg}/${rel}`;
  let s = cache.get(key);
  if (s === undefined) {
    s = readFileSync(join(packageDir(pkg), rel), 'utf8');
    cache.set(key, s);
  }
  return s;
}

/**
 * JSON that is safe inside <script type="application/json">: no "</script", no "<!--",
 * no line separators that would end a JS string.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Inline script text made safe to sit between <script> and </script>. */
export function scriptText(js: string): string {
  return js.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '<\\!--');
}

export function cspHash(scriptBody: string): string {
  return `'sha256-${createHash('sha256').update(scriptBody, 'utf8').digest('base64')}'`;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}
