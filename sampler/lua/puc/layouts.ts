/** Every PUC Lua release luaprof knows, and the layout table that reads it. */
import type { PucLayout } from './layout.js';
import { GENERATED_LAYOUTS } from '../versions/generated.js';

export const PUC_LAYOUTS: PucLayout[] = GENERATED_LAYOUTS;

/**
 * Releases checked against a real interpreter (test/e2e-versions.test.ts: Debian's lua5.1, lua5.2,
 * lua5.3, lua5.4, and 5.4.2, 5.4.7, 5.4.9 built from Debian bullseye's, trixie's and sid's source and
 * 5.4.8 from the upstream tarball in Debian's pool, by scripts/runtimes/lua54.sh). The derived tables
 * (5.4.0, 5.4.1, 5.4.3, 5.4.5, 5.4.6) were compared with offsetof probes of those releases' own headers
 * (generate.sh with LUA_GIT) but never run against their interpreters: they are used, with a warning,
 * only when forced or when LUAPROF_UNVERIFIED_LAYOUTS=1.
 */
export const VERIFIED_RELEASES = new Set([
  '5.1.5',
  '5.2.4',
  '5.3.6',
  '5.4.2',
  '5.4.4',
  '5.4.7',
  '5.4.8',
  '5.4.9',
]);

export function layoutFor(version: string, opts: { allowUnverified?: boolean } = {}): PucLayout | null {
  const allow = opts.allowUnverified ?? process.env.LUAPROF_UNVERIFIED_LAYOUTS === '1';
  if (!VERIFIED_RELEASES.has(version) && !allow) return null;
  return PUC_LAYOUTS.find((l) => l.releases.includes(version)) ?? null;
}

export function supportedVersions(): string[] {
  return [...VERIFIED_RELEASES].map((v) => `Lua ${v}`);
}
