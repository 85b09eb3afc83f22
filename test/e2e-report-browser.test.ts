/**
 * The HTML pages in real headless Chromium (Debian's /usr/bin/chromium via playwright-core).
 * Screenshots go to test-artifacts/ (gitignored).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffProfiles } from '../aggregator/diff.js';
import { CHROMIUM, CHROMIUM_ARGS, syntheticProfile } from '../bench/render.js';
import { runView } from '../cli/report-commands.js';
import { renderDiffHtml } from '../report/diff-html.js';
import { writeFileAtomic, writeProfile } from '../report/write.js';
import { ROOT, tempDir } from './helpers/lua-process.js';
import { HOSTILE, fixtureProfile, sampledRelease } from './helpers/report-fixtures.js';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(`report-browser tests skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

describe.skipIf(!haveChromium)('HTML reports in headless Chromium', () => {
  let ctx: BrowserContext;
  let userDir: string;
  const dir = tempDir('luaprof-browser-test-');
  const external: string[] = [];
  const dialogs: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const { chromium } = await import('playwright-core');
    userDir = tempDir('luaprof-chromium-');
    ctx = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1200, height: 800 },
    });
  }, 30_000);
  afterAll(async () => {
    await ctx?.close();
    rmSync(userDir, { recursive: true, force: true });
  });

  async function open(file: string): Promise<Page> {
    const page = await ctx.newPage();
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:')) external.push(u);
    });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href);
    return page;
  }

  async function ready(page: Page): Promise<void> {
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
  }

  /** Width of the rect of the first frame named `name`. */
  async function frameWidth(page: Page, name: string): Promise<number> {
    return page.evaluate((n) => {
      const g = [...document.querySelectorAll('#chart g.frame')].find((x) => x.getAttribute('name') === n);
      return g ? Number(g.querySelector('rect')!.getAttribute('width')) : -1;
    }, name);
  }

  it('renders the profile: frames, facts, table; the hostile chunk name stays text', async () => {
    const file = join(dir, 'report.html');
    await writeProfile(fixtureProfile(), file, 'html');
    const page = await open(file);
    await ready(page);
    await page.waitForTimeout(100);
    const names = await page.evaluate(() =>
      [...document.querySelectorAll('#chart g.frame')].map((g) => g.getAttribute('name')),
    );
    expect(names).toEqual(
      expect.arrayContaining(['main chunk', 'work', 'string.rep', 'parse', 'evil', 'trace_7', '[gc]']),
    );
    // Facts
    const fact = (k: string) => page.locator(`#facts dd[data-fact="${k}"]`).textContent();
    expect(await fact('command')).toBe(`lua5.4 ${HOSTILE}.lua`);
    expect(await fact('pid')).toBe('4242');
    expect(await fact('rate')).toBe('100 Hz');
    expect(await fact('samples')).toBe('140');
    expect(await fact('errors')).toBe('2');
    expect(await fact('Lua')).toBe('Lua 5.4.6');
    expect(await fact('duration')).toBe('1.40 s');
    // Hostile text is shown as text, nothing injected, nothing ran.
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('#fn-table td', { hasText: HOSTILE }).count()).toBe(1);
    expect(await page.locator('#title').textContent()).toContain(HOSTILE);
    // Tooltip: self/total samples and %, file:line.
    await page.locator('#chart g.frame[name="evil"]').first().hover();
    const tip = await page.locator('#tip').textContent();
    expect(tip).toContain(`${HOSTILE}:1`);
    expect(tip).toMatch(/total: 10 samples \(7\.14%\)/);
    expect(tip).toMatch(/self: +10 samples \(7\.14%\)/);
    expect(await page.locator('img').count()).toBe(0);
    await page.waitForTimeout(400); // d3-flame-graph animates new rects' widths (250 ms)
    await page.screenshot({ path: join(ARTIFACTS, 'report-profile.png'), fullPage: true });

    // Search highlights matches and shows the matched share.
    await page.fill('#search', 'rep');
    await page.press('#search', 'Enter');
    await expect.poll(() => page.locator('#match').getAttribute('data-share')).toBe(String(60 / 140));
    const fill = await page.locator('#chart g.frame[name="string.rep"] rect').getAttribute('fill');
    expect(fill?.toLowerCase()).toBe('#e600e6');
    expect(await page.locator('#chart g.frame[name="work"] rect').getAttribute('fill')).not.toBe('#e600e6');
    expect(await page.locator('#fn-table tbody tr').count()).toBe(1);
    await page.waitForTimeout(400); // d3-flame-graph animates new rects' widths (250 ms)
    await page.screenshot({ path: join(ARTIFACTS, 'report-search.png') });
    await page.click('#clear-search');

    // Click to zoom: "work" fills the width; reset brings it back.
    const full = await frameWidth(page, 'all threads (2)');
    const before = await frameWidth(page, 'work');
    expect(before).toBeLessThan(full * 0.8);
    await page.locator('#chart g.frame[name="work"]').first().click();
    await expect.poll(() => frameWidth(page, 'work')).toBeCloseTo(full, 0);
    expect(await page.locator('#reset-zoom').isDisabled()).toBe(false);
    await page.waitForTimeout(400); // d3-flame-graph animates new rects' widths (250 ms)
    await page.screenshot({ path: join(ARTIFACTS, 'report-zoom.png') });
    await page.click('#reset-zoom');
    await expect.poll(() => frameWidth(page, 'work')).toBeCloseTo(before, 0);

    // Table sorts: default total % descending; click Self % → descending self; again → ascending.
    const firstFn = () => page.locator('#fn-table tbody tr:first-child td:first-child').textContent();
    expect(await firstFn()).toBe('main chunk');
    await page.click('#fn-table th:text-is("Self %")');
    expect(await firstFn()).toBe('string.rep');
    expect(await page.locator('#fn-table th:text-is("Self %")').getAttribute('aria-sort')).toBe('descending');
    await page.click('#fn-table th:text-is("Self %")');
    expect(await page.locator('#fn-table th:text-is("Self %")').getAttribute('aria-sort')).toBe('ascending');
    expect(await firstFn()).toBe('main chunk');
    await page.click('#fn-table th:text-is("Function")');
    expect(await firstFn()).toBe('[gc]');

    // Thread selector: the worker thread has only main chunk → trace_7 and [gc].
    const options = await page.locator('#thread option').allTextContents();
    expect(options).toHaveLength(3);
    await page.selectOption('#thread', '2');
    await expect
      .poll(() =>
        page.evaluate(() =>
          [...document.querySelectorAll('#chart g.frame')].map((g) => g.getAttribute('name')).sort(),
        ),
      )
      .toEqual(['[gc]', 'main chunk', 'trace_7', 'worker (4242/4243)'].sort());
    // Flame / icicle toggle: the root moves from the bottom to the top.
    const rootY = () =>
      page.evaluate(
        () => (document.querySelector('#chart g.frame') as SVGGElement).getBoundingClientRect().top,
      );
    const flameY = await rootY();
    await page.click('#toggle-layout');
    expect(await page.locator('#toggle-layout').textContent()).toBe('flame');
    expect(await rootY()).toBeLessThan(flameY);
    await page.waitForTimeout(400); // d3-flame-graph animates new rects' widths (250 ms)
    await page.screenshot({ path: join(ARTIFACTS, 'report-icicle.png') });

    expect(dialogs).toEqual([]);
    expect(external).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 30_000);

  it('differential flamegraph: red for more, base widths on demand, table of changes', async () => {
    const base = sampledRelease(5000, 1);
    const next = sampledRelease(5000, 2, { slower: 'handler7', factor: 2 });
    const file = join(dir, 'diff.html');
    await writeFileAtomic(
      file,
      renderDiffHtml(diffProfiles(base, next), { baseName: 'base.json', newName: 'new.json' }),
    );
    const page = await open(file);
    await ready(page);
    const fill = await page.locator('#chart g.frame[name="handler7"] rect').getAttribute('fill');
    const [r, g, b] = (fill ?? '').match(/\d+/g)!.map(Number);
    expect(r).toBe(255);
    expect(g).toBeLessThan(200);
    expect(b).toBe(g);
    const fillBlue = await page.locator('#chart g.frame[name="handler4"] rect').getAttribute('fill');
    const [r2, , b2] = (fillBlue ?? '').match(/\d+/g)!.map(Number);
    expect(b2).toBeGreaterThanOrEqual(r2);
    const newW = await frameWidth(page, 'handler7');
    await page.selectOption('#widths', 'base');
    await expect.poll(() => frameWidth(page, 'handler7')).toBeLessThan(newW * 0.75);
    // Table: default sort by change of total share, the regression first.
    expect(await page.locator('#fn-table tbody tr:first-child td:first-child').textContent()).toBe(
      'handler7',
    );
    expect(await page.locator('#fn-table tbody tr:first-child td:last-child').textContent()).toBe(
      'regression',
    );
    await page.waitForTimeout(400); // d3-flame-graph animates new rects' widths (250 ms)
    await page.screenshot({ path: join(ARTIFACTS, 'report-diff.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
    await page.close();
  }, 30_000);

  it('a large profile (200k samples, 20k stacks) becomes interactive quickly and zooms into pruned detail', async () => {
    const file = join(dir, 'large.html');
    await writeProfile(syntheticProfile(200_000, 20_000, 3), file, 'html');
    const page = await open(file);
    await ready(page);
    const readyMs = Number(await page.locator('body').getAttribute('data-ready-ms'));
    expect(readyMs).toBeLessThan(2000);
    // Zoom into a small frame: the chart re-roots on it and shows its detail.
    const small = await page.evaluate(() => {
      const gs = [...document.querySelectorAll('#chart g.frame')] as SVGGElement[];
      const w = (g: SVGGElement) => Number(g.querySelector('rect')!.getAttribute('width'));
      const c = gs.filter((g) => w(g) > 3 && w(g) < 20);
      return c.length ? c[0].getAttribute('name') : null;
    });
    expect(small).not.toBeNull();
    await page.locator(`#chart g.frame[name="${small}"]`).first().click({ force: true });
    await expect.poll(() => page.locator('#chart').getAttribute('data-zoomed')).toBe(small);
    await page.waitForTimeout(300);
    await page.waitForTimeout(400); // d3-flame-graph animates new rects' widths (250 ms)
    await page.screenshot({ path: join(ARTIFACTS, 'report-large-zoom.png') });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('luaprof view: speedscope app loads the embedded profile offline', async () => {
    const src = join(dir, 'view-src.json');
    await writeProfile(fixtureProfile(), src, 'speedscope');
    const { path } = await runView(src, { output: join(dir, 'view.html'), open: false });
    const page = await open(path);
    // speedscope shows the profile's name in the title and the thread's profile name in its toolbar.
    await page.waitForFunction(
      () => document.title.startsWith('luaprof: lua5.4') && document.body.innerText.includes('main (4242)'),
      null,
      { timeout: 15_000 },
    );
    expect(await page.evaluate(() => document.body.innerText)).not.toMatch(
      /Something went wrong|Unrecognized format/i,
    );
    await page.waitForTimeout(400); // d3-flame-graph animates new rects' widths (250 ms)
    await page.screenshot({ path: join(ARTIFACTS, 'view-speedscope.png') });
    expect(external).toEqual([]);
    expect(dialogs).toEqual([]);
    await page.close();
  }, 30_000);
});
