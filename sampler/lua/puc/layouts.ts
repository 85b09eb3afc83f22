/** Every PUC Lua release luaprof knows, the layout table that reads it, and the one to try on a newer one. */
import type { PucLayout } from './layout.js';
import { GENERATED_LAYOUTS } from '../versions/generated.js';

export const PUC_LAYOUTS: PucLayout[] = GENERATED_LAYOUTS;

/**
 * Releases run against a real interpreter (test/e2e-versions.test.ts: Debian's lua5.1, lua5.2,
 * lua5.3, lua5.4, and 5.4.2, 5.4.7, 5.4.9 built from Debian bullseye's, trixie's and sid's source and
 * 5.4.8 from the upstream tarball in Debian's pool, by scripts/runtimes/lua54.sh; 5.4.3 and 5.4.6 from
 * the copies bookworm's and sid's darktable sources vendor, by scripts/runtimes/lua54-darktable.sh; their
 * tables are still the derived ones, now run on real interpreters). The others (5.4.0, 5.4.1, 5.4.5)
 * were derived from a neighbour and compared with offsetof probes of their
 * own headers (generate.sh with LUA_GIT); every layout is checked on the process at attach
 * (layout-check.ts), and for these that check is all that vouches for them on a live interpreter.
 */
export const VERIFIED_RELEASES = new Set([
  '5.1.5',
  '5.2.4',
  '5.3.6',
  '5.4.2',
  '5.4.3',
  '5.4.4',
  '5.4.6',
  '5.4.7',
  '5.4.8',
  '5.4.9',
]);

/** The layout picked for a detected release. */
export interface LayoutChoice {
  layout: PucLayout;
  /** The release the layout was made for (the detected one, or the nearest older one luaprof knows). */
  release: string;
  /** The detected release is newer than every release luaprof knows of its line. */
  nearest: boolean;
  /** The layout's release was run against a real interpreter in luaprof's tests. */
  verified: boolean;
}

const compareReleases = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** The layout generated for exactly this release (x.y.z), or null. */
export function layoutFor(version: string): PucLayout | null {
  return PUC_LAYOUTS.find((l) => l.releases.includes(version)) ?? null;
}

/**
 * The layout for a detected release: its own, else, for a release newer than every one luaprof
 * knows (5.4.10, 5.5.0), the newest known release below it. Null for a release older than all of
 * them or one between two known releases (a gap luaprof must not guess across) or not x.y.z.
 */
export function chooseLayout(version: string): LayoutChoice | null {
  const own = layoutFor(version);
  if (own) return { layout: own, release: version, nearest: false, verified: VERIFIED_RELEASES.has(version) };
  if (!/^\d+\.\d+\.\d+$/.test(version)) return null;
  const known = PUC_LAYOUTS.flatMap((l) => l.releases).sort(compareReleases);
  const newest = known[known.length - 1];
  if (compareReleases(version, newest) <= 0) return null;
  return {
    layout: layoutFor(newest)!,
    release: newest,
    nearest: true,
    verified: VERIFIED_RELEASES.has(newest),
  };
}

/** How the layout came to be, for the line printed at attach: "derived from its headers", … */
export function layoutOrigin(choice: LayoutChoice): string {
  if (choice.verified) return 'verified on a real interpreter';
  return choice.layout.provenance?.from === 'derived'
    ? 'derived from its headers'
    : 'generated from its headers';
}

export function supportedVersions(): string[] {
  return PUC_LAYOUTS.flatMap((l) => l.releases).map((v) => `Lua ${v}`);
}
