/** Recorded walker snapshots in fixtures/snapshots/ (scripts/record-snapshots.mjs records the PUC ones). */
import { readFileSync, readdirSync } from 'node:fs';

export interface WalkerSnapshot {
  /** The interpreter it was recorded from (per-version snapshots only). */
  runtime?: string;
  version: string;
  L: number;
  G: number;
  /** The program's own debug.traceback() at the time. */
  traceback: string[];
  /** What luaprof's walker printed for it. */
  dumped: string[];
  regions: { addr: number; hex: string }[];
}

const DIR = new URL('../../fixtures/snapshots/', import.meta.url);

export function readSnapshot(file: string): WalkerSnapshot {
  return JSON.parse(readFileSync(new URL(file, DIR), 'utf8'));
}

/** Every snapshot whose file name matches. */
export function readSnapshots(pattern: RegExp): WalkerSnapshot[] {
  return readdirSync(DIR)
    .filter((f) => pattern.test(f))
    .map(readSnapshot);
}
