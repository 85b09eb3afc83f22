/** Every PUC Lua release luaprof knows, and the layout table that reads it. */
import type { PucLayout } from './layout.js';
import { LUA_543 } from './versions/lua54.js';

export const PUC_LAYOUTS: PucLayout[] = [LUA_543];

/** Releases checked against a real interpreter; others with a known layout are refused until checked. */
export const VERIFIED_RELEASES = new Set(['5.4.4']);

export function layoutFor(version: string): PucLayout | null {
  if (!VERIFIED_RELEASES.has(version)) return null;
  return PUC_LAYOUTS.find((l) => l.releases.includes(version)) ?? null;
}

export function supportedVersions(): string[] {
  return [...VERIFIED_RELEASES].map((v) => `Lua ${v}`);
}
