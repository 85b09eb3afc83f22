// The README's pictures (docs/*.png), made from the bundled fixtures with the built CLI and headless
// Chromium, so they can be made again whenever the pages change:
//   npm run build && node scripts/pictures.mjs            # needs lua5.4, tmux and /usr/bin/chromium
// Each picture records its fixture anew (a few seconds each), renders the page and screenshots it.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../dist/bench/render.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docs = join(root, 'docs');
const fixtures = join(root, 'fixtures/lua');
const cli = join(root, 'dist/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'luaprof-pictures-'));
// Past this a picture bloats every clone of the repository: make the window smaller instead.
const MAX_BYTES = 200 * 1024;

// Run from fixtures/ with relative script names, so that the pages show `demo.lua`, not this checkout's path.
function luaprof(...args) {
  execFileSync(process.execPath, [cli, ...args], { cwd: fixtures, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The demo (the README's first command) as its HTML flamegraph. */
function demoFlamegraph() {
  const page = join(work, 'demo.html');
  luaprof('record', '-r', '200', '-o', page, '--', 'lua5.4', 'demo.lua');
  return page;
}

/** Two releases of one program (in v2 `parse` costs twice as much), compared by `luaprof diff`. */
function releaseDiff() {
  const profile = (version) => {
    const file = join(work, `${version}.json`);
    luaprof('record', '-r', '500', '-o', file, '--', 'lua5.4', 'release.lua', version, '3');
    return file;
  };
  const page = join(work, 'diff.html');
  luaprof('diff', profile('v1'), profile('v2'), '-o', page);
  return page;
}

/**
 * `luaprof top` on a fixture with a known split, in a detached tmux session: its screen after a few
 * seconds, as text in a terminal-like page.
 */
function topScreen() {
  const target = spawn('lua5.4', ['top-split.lua', join(work, 'split.txt')], {
    cwd: fixtures,
    stdio: 'ignore',
  });
  const session = `luaprof-pictures-${process.pid}`;
  try {
    const top = `${process.execPath} ${cli} top -p ${target.pid}`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '100', '-y', '24', top], {
      cwd: fixtures,
    });
    execFileSync('sleep', ['4']);
    const screen = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
    const text = screen.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]);
    const page = join(work, 'top.html');
    writeFileSync(
      page,
      `<!doctype html><meta charset="utf-8"><body data-ready="1" style="margin:0;background:#1e1e1e">` +
        `<pre style="margin:0;padding:12px;color:#d4d4d4;font:14px/1.35 'DejaVu Sans Mono',monospace">${text}</pre>`,
    );
    return page;
  } finally {
    execFileSync('tmux', ['kill-session', '-t', session], { stdio: 'ignore' });
    target.kill();
  }
}

const pictures = [
  { file: 'flamegraph.png', page: demoFlamegraph, width: 1100, height: 720 },
  { file: 'diff.png', page: releaseDiff, width: 1100, height: 560 },
  { file: 'top.png', page: topScreen, width: 860, height: 270 },
];

mkdirSync(docs, { recursive: true });
const userDir = mkdtempSync(join(tmpdir(), 'luaprof-pictures-chromium-'));
const browser = await chromium.launchPersistentContext(userDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: CHROMIUM_ARGS,
});
try {
  for (const picture of pictures) {
    const page = await browser.newPage();
    await page.setViewportSize({ width: picture.width, height: picture.height });
    await page.goto(pathToFileURL(picture.page()).href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
    // d3's transitions settle within a few hundred ms.
    await page.waitForTimeout(1000);
    const out = join(docs, picture.file);
    await page.screenshot({ path: out });
    await page.close();
    const bytes = statSync(out).size;
    console.log(`${out}: ${Math.round(bytes / 1024)} KiB`);
    if (bytes > MAX_BYTES) throw new Error(`${out} is over ${MAX_BYTES / 1024} KiB`);
  }
} finally {
  await browser.close();
  rmSync(userDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
