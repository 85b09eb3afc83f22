/** pprof files as Go's own reader sees them (runs `go tool pprof`). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeProfile } from '../report/write.js';
import { tempDir } from './helpers/lua-process.js';
import { fixtureProfile } from './helpers/report-fixtures.js';

const dir = tempDir('luaprof-report-test-');

describe('pprof read by go tool pprof', () => {
  const haveGo = (() => {
    try {
      execFileSync('go', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!haveGo)('`go tool pprof -top` lists the expected functions with their flat counts', async () => {
    const file = join(dir, 'fixture.pb.gz');
    await writeProfile(fixtureProfile(), file, 'pprof');
    const out = execFileSync('go', ['tool', 'pprof', '-top', '-sample_index=samples', file], {
      encoding: 'utf8',
      env: { ...process.env, HOME: dir, GOCACHE: join(dir, 'gocache'), GOFLAGS: '-mod=mod' },
      timeout: 60_000,
    });
    const flat = (name: string) => {
      const line = out.split('\n').find((l) => l.trim().endsWith(` ${name}`));
      return line ? Number(line.trim().split(/\s+/)[0]) : NaN;
    };
    expect(out).toMatch(/Showing nodes accounting for 140, 100% of 140 total/);
    expect(flat('string.rep')).toBe(60);
    expect(flat('trace_7')).toBe(30);
    expect(flat('work')).toBe(20);
    expect(flat('parse')).toBe(10);
    expect(flat('evil')).toBe(10);
    expect(flat('[gc]')).toBe(10);
    expect(out).toMatch(/\s0\s+0%\s+100%\s+140\s+100%\s+main chunk|main chunk/);
  });
});
