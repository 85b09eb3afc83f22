/**
 * The readers behind report, view and diff against hostile files (issue 13): 1,000 mutated
 * speedscope, folded and pprof inputs from a seeded generator are each read into a usable profile or
 * refused with one ProfileFormatError line; nothing else escapes. bench/hostile-files.ts runs 10,000.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfileFormatError, parseProfile, readProfile } from '../report/read.js';
import { hostileInputs, readsSafely, validFiles, type HostileKind } from '../testkit/hostile-profiles.js';
import { tempDir } from '../testkit/root.js';

describe('hostile profile files', () => {
  it(
    '1,000 mutated inputs: each read into a usable profile or refused in one line',
    { timeout: 120_000 },
    () => {
      const outcomes: Record<HostileKind, { read: number; refused: number }> = {
        speedscope: { read: 0, refused: 0 },
        folded: { read: 0, refused: 0 },
        pprof: { read: 0, refused: 0 },
      };
      for (const input of hostileInputs(13, 1000)) {
        let outcome;
        try {
          outcome = readsSafely(input);
        } catch (e) {
          throw new Error(`${input.kind} (${input.mutation}): ${(e as Error)?.stack ?? String(e)}`, {
            cause: e,
          });
        }
        outcomes[input.kind][outcome]++;
      }
      // Both ends of the property are exercised for every format.
      for (const kind of ['speedscope', 'folded', 'pprof'] as const) {
        expect(outcomes[kind].read, kind).toBeGreaterThan(10);
        expect(outcomes[kind].refused, kind).toBeGreaterThan(10);
      }
    },
  );

  const refused = (bytes: Buffer | string, kind: string) => {
    let error: unknown;
    try {
      parseProfile(Buffer.from(bytes), `x.${kind}`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProfileFormatError);
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message;
  };

  it('deep nesting in a sample, wrong types in the metadata, references out of range', () => {
    const doc = JSON.parse(validFiles().speedscope.toString()) as {
      profiles: { samples: unknown[] }[];
      luaprof: { meta: Record<string, unknown>; threads: Record<string, unknown>[] };
    };
    const deep = structuredClone(doc);
    deep.profiles[0].samples[0] = '__DEEP__';
    const text = JSON.stringify(deep).replace('"__DEEP__"', '['.repeat(50_000) + ']'.repeat(50_000));
    expect(refused(text, 'json')).toMatch(/sample 0 refers to frame a value of type object/);

    const types = structuredClone(doc);
    Object.assign(types.luaprof.meta, { durationMs: 'long', samples: null, command: [1], rate: -5 });
    types.luaprof.threads[0].tid = { evil: true };
    const p = parseProfile(Buffer.from(JSON.stringify(types)), 'x.json');
    expect(p.meta.durationMs).toBe(0);
    expect(p.meta.command).toBeUndefined();
    expect(p.meta.rate).toBeUndefined();
    expect(Number.isInteger(p.threads[0].tid)).toBe(true);
  });

  it('a pprof file whose gzip trailer is broken is refused', () => {
    const bytes = validFiles().pprof;
    // Bit flips in the gzip trailer make gunzip fail: refused, not thrown.
    const broken = Buffer.from(bytes);
    broken[broken.length - 3] ^= 0xff;
    expect(refused(broken, 'pb.gz')).toMatch(/not a readable pprof profile/);
  });

  it('a file over the size limit is refused by its size before it is read', () => {
    const file = join(tempDir(), 'big.json');
    writeFileSync(file, validFiles().speedscope);
    expect(() => readProfile(file, 100)).toThrow(
      /big\.json: .* over the 100 bytes limit for profiles \(--max-input-size raises it\)/,
    );
    expect(readProfile(file, 1 << 20).threads.length).toBe(2);
  });
});
