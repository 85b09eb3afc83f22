import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { diffProfiles, formatDiffSummary, twoProportionTest } from '../aggregator/diff.js';
import { runCommand } from '../cli/output.js';
import { registerReportCommands, runDiff } from '../cli/report-commands.js';
import { writeProfile } from '../report/write.js';
import { tempDir } from './helpers/lua-process.js';
import { sampledRelease } from './helpers/report-fixtures.js';

const dir = tempDir('luaprof-diff-test-');
const N = 20_000;

describe('two-proportion z-test', () => {
  it('matches textbook values', () => {
    // 50/100 vs 65/100: pooled p = 0.575, se = sqrt(0.575·0.425·0.02) = 0.06991, z = 0.15/se = 2.1456, p ≈ 0.0319
    const r = twoProportionTest(50, 100, 65, 100);
    expect(r.z).toBeCloseTo(2.1456, 3);
    expect(r.p).toBeCloseTo(0.032, 3);
    expect(twoProportionTest(10, 100, 10, 100)).toEqual({ z: 0, p: 1 });
  });
});

describe('diffProfiles', () => {
  it('a function made twice as expensive leads the significant regressions', () => {
    const base = sampledRelease(N, 1);
    const next = sampledRelease(N, 2, { slower: 'handler7', factor: 2, lineShift: 3 });
    const d = diffProfiles(base, next);
    expect(d.regressions.length).toBeGreaterThan(0);
    expect(d.regressions[0].name).toBe('handler7');
    const h7 = d.regressions[0];
    // cost 3 of 60 → 6 of 63: total share 5% → 9.5%
    expect(h7.baseTotalShare).toBeCloseTo(0.05, 1);
    expect(h7.newTotalShare).toBeCloseTo(6 / 63, 1);
    expect(h7.deltaTotalPts).toBeGreaterThan(3.5);
    expect(h7.total.p).toBeLessThan(1e-10);
    // matched by name + file although every line moved: no function appears as removed/added
    expect(d.functions.every((f) => f.baseTotal > 0 && f.newTotal > 0)).toBe(true);
    // every other handler shrank a little; none of them is a regression
    expect(d.regressions.map((f) => f.name).filter((n) => n.startsWith('handler'))).toEqual(['handler7']);
    const summary = formatDiffSummary(d);
    const lines = summary.split('\n');
    const regIdx = lines.findIndex((l) => l.startsWith('Regressions'));
    expect(lines[regIdx + 1]).toMatch(/handler7 \(handlers\.lua\)/);
    expect(summary.indexOf('Regressions')).toBeLessThan(summary.indexOf('Improvements'));
  });

  it('two samples of the same distribution: nothing significant', () => {
    for (const [s1, s2] of [
      [11, 12],
      [13, 14],
      [15, 16],
    ]) {
      const d = diffProfiles(sampledRelease(N, s1), sampledRelease(N, s2));
      expect(d.regressions, `seeds ${s1},${s2}`).toEqual([]);
      expect(d.improvements, `seeds ${s1},${s2}`).toEqual([]);
    }
  });

  it('--by-line keeps functions apart when their lines moved', () => {
    const d = diffProfiles(sampledRelease(2000, 1), sampledRelease(2000, 2, { lineShift: 3 }), {
      byLine: true,
    });
    expect(d.functions.some((f) => f.baseTotal === 0)).toBe(true);
    expect(d.functions.some((f) => f.newTotal === 0)).toBe(true);
  });
});

describe('luaprof diff', () => {
  afterEach(() => vi.restoreAllMocks());

  async function files(): Promise<{ base: string; slow: string; same: string }> {
    const base = join(dir, 'base.json');
    const slow = join(dir, 'slow.json');
    const same = join(dir, 'same.json');
    await writeProfile(sampledRelease(N, 1), base, 'speedscope');
    await writeProfile(sampledRelease(N, 2, { slower: 'handler7', factor: 2 }), slow, 'speedscope');
    await writeProfile(sampledRelease(N, 3), same, 'folded');
    return { base, slow, same };
  }

  it('runDiff on two profile files: regression fails the gate, same distribution passes', async () => {
    const f = await files();
    const out = join(dir, 'diff.html');
    const bad = await runDiff(f.base, f.slow, { output: out, failOnRegression: 2 });
    expect(bad.exitCode).toBe(7);
    expect(bad.failing).toEqual(['handler7']);
    expect(bad.summary).toMatch(/FAIL: 1 function\(s\) grew by more than 2 pts/);
    expect(readFileSync(out, 'utf8')).toMatch(/^<!DOCTYPE html>/);
    // The gate is a threshold: a regression smaller than PCT points does not fail.
    expect((await runDiff(f.base, f.slow, { failOnRegression: 10 })).exitCode).toBe(0);
    const ok = await runDiff(f.base, f.same, { failOnRegression: 0 });
    expect(ok.exitCode).toBe(0);
    expect(ok.summary).toMatch(/Regressions: none significant/);
  });

  it('the command prints the summary on stdout and exits 7 on regression', async () => {
    const f = await files();
    let stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      stdout += String(s);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const program = new Command('luaprof');
    registerReportCommands(program);
    expect(
      await runCommand(program, [
        'node',
        'luaprof',
        'diff',
        f.base,
        f.slow,
        '-o',
        join(dir, 'd2.html'),
        '--fail-on-regression',
        '1',
      ]),
    ).toBe(7);
    expect(stdout).toMatch(/^base: 20000 samples, new: 20000 samples/);
    expect(stdout).toMatch(/Regressions \(\d+ significant\):\n.*handler7/);
    stdout = '';
    const p2 = new Command('luaprof');
    registerReportCommands(p2);
    expect(
      await runCommand(p2, ['node', 'luaprof', 'diff', f.base, f.same, '--fail-on-regression', '1']),
    ).toBe(0);
    expect(stdout).toMatch(/Regressions: none significant/);
  });
});
