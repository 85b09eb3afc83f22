/**
 * What a profile's timelines cost while a recording grows, and what its final write costs: `samples`
 * samples fed to a ProfileBuilder the way the recorder feeds it (frame ids of a stream, ~2,000
 * distinct stacks over 4 threads), its timelines spilled to os.tmpdir() past a chunk as the recorder's
 * are; then build() and the speedscope write of `record -o p.json`. Prints the growth of the heap and
 * of the memory outside it (typed arrays) while samples came in, and the times.
 *
 *     npm run build && node --expose-gc dist/bench/profile-store.js [--samples 1000000]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProfileBuilder, type Frame } from '../aggregator/profile.js';
import { writeProfile } from '../report/write.js';
import { rng } from './rng.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
};

function memoryMb(): { heap: number; outside: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed / 1e6, outside: (m.external + m.arrayBuffers) / 1e6, rss: m.rss / 1e6 };
}

async function main(): Promise<void> {
  const samples = Number(arg('--samples', '1000000'));
  const rand = rng(7);
  const frames: Frame[] = Array.from({ length: 400 }, (_, i) => ({
    kind: 'lua',
    name: `f${i}`,
    file: `src/m${i % 20}.lua`,
    lineDefined: i,
  }));
  const stacks: number[][] = Array.from({ length: 2000 }, () =>
    Array.from({ length: 3 + Math.floor(rand() * 20) }, () => Math.floor(rand() * frames.length)),
  );
  const b = new ProfileBuilder({ spillDir: tmpdir() });
  const ids = frames.map((f) => b.internFrame(f));
  const map = (id: number) => ids[id];
  // The stacks first, so that what grows below is the timelines alone.
  for (const s of stacks) b.addStack(1, 'main', s, 0, 1, 100, map);
  const before = memoryMb();
  let t = performance.now();
  for (let i = 0; i < samples; i++) {
    const s = stacks[Math.floor(rand() * rand() * stacks.length)];
    b.addStack(1 + (i % 4), 'main', s, i * 1.0003, 1, 100, map);
  }
  const addMs = performance.now() - t;
  const after = memoryMb();
  const inFile = (b as { samplesInFile?: number }).samplesInFile;
  t = performance.now();
  const profile = b.build({
    tool: 'luaprof',
    version: 'bench',
    startTime: Date.now(),
    durationMs: samples,
    samples,
    errors: 0,
  });
  const buildMs = performance.now() - t;
  const dir = mkdtempSync(join(tmpdir(), 'luaprof-bench-store-'));
  const out = join(dir, 'p.json');
  t = performance.now();
  await writeProfile(profile, out, 'speedscope');
  const writeMs = performance.now() - t;
  const size = statSync(out).size;
  rmSync(dir, { recursive: true, force: true });
  const per = (mb: number) => ((mb * 1e6) / samples).toFixed(1);
  console.log(
    `${samples} samples (${profile.stacks.length} stacks, 4 threads), ${inFile ?? 'none (no store)'} of them in the temporary file; added in ${addMs.toFixed(0)} ms`,
  );
  console.log(
    `while they came in: heap +${(after.heap - before.heap).toFixed(1)} MB (${per(after.heap - before.heap)} B/sample), ` +
      `outside the heap +${(after.outside - before.outside).toFixed(1)} MB, RSS +${(after.rss - before.rss).toFixed(1)} MB`,
  );
  console.log(
    `final write: build ${buildMs.toFixed(0)} ms, speedscope ${writeMs.toFixed(0)} ms (${(size / 1e6).toFixed(1)} MB); total ${(buildMs + writeMs).toFixed(0)} ms`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
