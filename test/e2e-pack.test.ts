/**
 * The installable package: `npm pack` holds what runs and nothing of the checkout's tests or sources;
 * `npm install -g` of the tarball into a temporary prefix gives a `luaprof` that works away from the
 * checkout. The dependencies come from npm's cache (filled by setup's `npm ci`): `--prefer-offline`
 * asks the registry only for metadata it has never cached (a tarball's dependency ranges need the
 * registry's version lists), so after the first run the install makes no request at all.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startLua, tempDir, tracebackLines, waitForFile } from './helpers/lua-process.js';

const children: { kill(): void }[] = [];
const dirs: string[] = [];
afterAll(() => {
  children.forEach((c) => c.kill());
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  expect(r.status, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('npm pack, npm install -g, luaprof away from the checkout', () => {
  const dir = tempDir('luaprof-pack-');
  dirs.push(dir);
  const prefix = join(dir, 'prefix');
  const away = join(dir, 'elsewhere');
  let packed: string[] = [];
  let tarball = '';

  beforeAll(() => {
    const out = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT);
    const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
    packed = info.files.map((f) => f.path);
    tarball = join(dir, info.filename);
    run(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        tarball,
      ],
      dir,
    );
    run('mkdir', ['-p', away], dir);
  }, 120_000);

  it('the tarball holds the build, the page assets, README and LICENSE; no tests, fixtures or sources', () => {
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/luaprof',
      'dist/cli/main.js',
      'dist/sampler/worker.js',
      'dist/sampler/worker-script.js',
      'dist/sampler/worker-script.v8cache',
      'dist/report/flamegraph.html',
      'dist/report/flamegraph.css',
      'dist/report/flamegraph-app.js',
    ])
      expect(packed).toContain(f);
    const top = ['package.json', 'README.md', 'LICENSE', 'bin/luaprof'];
    const strays = packed.filter(
      (f) =>
        !top.includes(f) &&
        // V8's code cache of the worker's script (scripts/bundle-workers.mjs).
        f !== 'dist/sampler/worker-script.v8cache' &&
        !/^dist\/(cli|sampler|aggregator|report|upload)\/[\w/.-]+\.(js|html|css)$/.test(f),
    );
    expect(strays).toEqual([]);
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('the installed luaprof dumps a live lua5.4 like its own debug.traceback', async () => {
    const bin = join(prefix, 'bin', 'luaprof');
    expect(existsSync(bin)).toBe(true);
    const tbFile = join(dir, 'traceback.txt');
    const child = startLua('lua5.4', 'oracle.lua', [tbFile]);
    children.push(child);
    const expected = tracebackLines(await waitForFile(tbFile));
    const callers = (lines: string[]) =>
      lines.slice(lines.findIndex((l) => l.includes("in upvalue 'spin'")) + 1);
    const dumped = run(bin, ['dump', '-p', String(child.pid)], away);
    expect(dumped).toMatch(/Lua 5\.4/);
    expect(callers(tracebackLines(dumped))).toEqual(callers(expected));
    child.kill();
  });

  it('the installed luaprof writes an HTML flamegraph with the page assets it carries', () => {
    const bin = join(prefix, 'bin', 'luaprof');
    const out = join(away, 'run.html');
    run(
      bin,
      ['record', '-o', out, '--', 'lua5.4', '-e', 'local t = os.clock() + 0.3 while os.clock() < t do end'],
      away,
    );
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('flamegraph');
  });
});
