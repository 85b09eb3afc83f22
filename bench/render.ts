/**
 * Report rendering benchmark: a synthetic profile of 1M samples over 100k distinct stacks,
 * rendered to the HTML flamegraph; prints render time, file size, and time to interactive in
 * headless Chromium (navigation start until the page marks itself ready after its first paint).
 *
 *     npm run build && node dist/bench/render.js [--samples 1000000] [--stacks 100000] [--out FILE] [--no-browser]
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Frame, Profile } from '../aggregator/profile.js';
import { ProfileBuilder } from '../aggregator/profile.js';
import { buildTree, countNodes, stackWeights } from '../aggregator/tree.js';
import { renderFlamegraphHtml } from '../report/html.js';
import { writeFileAtomic } from '../report/write.js';
import { rng } from './rng.js';

/**
 * A profile with `samples` samples over exactly `stacks` distinct stacks, shaped like a real
 * program: stacks grow from shared prefixes (a call tree), sample counts are Zipf-distributed.
 */
export function syntheticProfile(samples: number, stacks: number, seed = 1): Profile {
  const rand = rng(seed);
  const b = new ProfileBuilder();
  const nFuncs = 4000;
  const files = Array.from({ length: 60 }, (_, i) => `src/module${i}.lua`);
  const frames: Frame[] = Array.from({ length: nFuncs }, (_, i) => {
    if (i % 10 === 9) return { kind: 'c', name: `lib.cfunc${i}`, file: '[C]' };
    return {
      kind: 'lua',
      name: `fn_${i.toString(36)}_${['parse', 'eval', 'emit', 'load', 'walk', 'hash'][i % 6]}`,
      file: files[i % files.length],
      lineDefined: 1 + (i % 700),
    };
  });
  const ids = frames.map((f) => b.internFrame(f));
  const main = b.internFrame({ kind: 'lua', name: 'main chunk', file: 'main.lua', lineDefined: 0 });
  const list: number[][] = [[main]];
  const seen = new Set<string>([String(main)]);
  while (list.length < stacks) {
    // Extend a random earlier stack (biased towards recent ones: deeper trees) by 1–3 calls.
    const base = list[Math.floor(list.length * Math.sqrt(rand()))];
    const cut = Math.max(1, Math.min(base.length, Math.ceil(base.length * (0.6 + 0.4 * rand()))));
    const st = base.slice(0, cut);
    const add = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < add && st.length < 48; k++) st.push(ids[Math.floor(Math.pow(rand(), 1.5) * nFuncs)]);
    const key = st.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    list.push(st);
  }
  const sids = list.map((s) => b.internStack(s));
  // Every stack at least once; the rest Zipf(1.0) over a random permutation.
  const weights = new Float64Array(stacks);
  let zsum = 0;
  for (let i = 0; i < stacks; i++) zsum += 1 / (i + 1);
  const perm = Array.from({ length: stacks }, (_, i) => i);
  for (let i = stacks - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const extra = samples - stacks;
  let assigned = 0;
  for (let r = 0; r < stacks; r++) {
    const n = Math.floor((extra * (1 / (r + 1))) / zsum);
    weights[perm[r]] = 1 + n;
    assigned += 1 + n;
  }
  for (let r = 0; assigned < samples; r = (r + 1) % stacks, assigned++) weights[perm[r]]++;
  const threads = [b.thread(1, 'main', 1), b.thread(2, 'worker', 1)];
  let t = 0;
  for (let i = 0; i < stacks; i++) {
    for (let k = 0; k < weights[i]; k++) {
      b.push(threads[(i + k) % 7 === 0 ? 1 : 0], sids[i], (t += 1));
    }
  }
  return b.build({
    tool: 'luaprof',
    version: 'bench',
    command: ['lua5.4', 'synthetic.lua'],
    pid: 1,
    rate: 1000,
    startTime: Date.UTC(2025, 0, 1),
    durationMs: samples,
    samples,
    errors: 0,
    luaVersion: 'Lua 5.4',
  });
}

export interface BrowserTiming {
  /** ms from navigation start until the page marked itself ready (first chart + table drawn). */
  readyMs: number;
  /** ms the page script itself took. */
  scriptMs: number;
  /** Wall time of page.goto + wait, as seen by the driver. */
  wallMs: number;
  /** SVG frames drawn. */
  framesDrawn: number;
}

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function timeInChromium(file: string, runs = 3): Promise<BrowserTiming[]> {
  const { chromium } = await import('playwright-core');
  const userDir = mkdtempSync(join(tmpdir(), 'luaprof-bench-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
  });
  const out: BrowserTiming[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const page = await ctx.newPage();
      const t0 = Date.now();
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
      const wallMs = Date.now() - t0;
      const readyMs = Number(await page.getAttribute('body', 'data-ready-ms'));
      const scriptMs = Number(await page.getAttribute('body', 'data-script-ms'));
      const framesDrawn = await page.locator('#chart g').count();
      out.push({ readyMs, scriptMs, wallMs, framesDrawn });
      await page.close();
    }
  } finally {
    await ctx.close();
    rmSync(userDir, { recursive: true, force: true });
  }
  return out;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const samples = Number(arg('--samples', '1000000'));
  const stacks = Number(arg('--stacks', '100000'));
  const out = arg('--out', join(tmpdir(), 'luaprof-bench-render.html'));
  let t = performance.now();
  const profile = syntheticProfile(samples, stacks);
  const genMs = performance.now() - t;
  const nodes = countNodes(buildTree(profile, stackWeights(profile)));
  t = performance.now();
  const html = renderFlamegraphHtml(profile);
  const renderMs = performance.now() - t;
  await writeFileAtomic(out, html);
  const size = statSync(out).size;
  console.log(
    `profile: ${samples} samples, ${profile.stacks.length} distinct stacks, ${profile.frames.length} frames, ${nodes} call-tree nodes (generated in ${genMs.toFixed(0)} ms)`,
  );
  console.log(`render to HTML: ${renderMs.toFixed(0)} ms, ${(size / 1e6).toFixed(2)} MB -> ${out}`);
  if (process.argv.includes('--no-browser')) return;
  if (!existsSync(CHROMIUM)) {
    console.log(`time to interactive: skipped (${CHROMIUM} not installed)`);
    return;
  }
  const timings = await timeInChromium(out, 3);
  for (const [i, r] of timings.entries()) {
    console.log(
      `chromium run ${i + 1}: interactive at ${r.readyMs.toFixed(0)} ms after navigation start (page script ${r.scriptMs.toFixed(0)} ms, driver wall ${r.wallMs} ms, ${r.framesDrawn} frames drawn)`,
    );
  }
  const med = timings.map((r) => r.readyMs).sort((a, b) => a - b)[Math.floor(timings.length / 2)];
  console.log(`time to interactive (median of ${timings.length}): ${med.toFixed(0)} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
