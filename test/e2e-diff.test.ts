/** `luaprof diff` on real recordings of two releases of a program. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../sampler/errors.js';
import { FIXTURES, luaprofSync, tempDir } from './helpers/lua-process.js';

function recordRelease(dir: string, name: string, version: 'v1' | 'v2'): string {
  const out = join(dir, `${name}.json`);
  const r = luaprofSync([
    'record',
    '-r',
    '500',
    '-o',
    out,
    '--',
    'lua5.4',
    join(FIXTURES, 'release.lua'),
    version,
    '2',
  ]);
  expect(r.status, r.stderr).toBe(0);
  return out;
}

describe('diff between releases', () => {
  const dir = tempDir();
  const base = recordRelease(dir, 'base', 'v1');
  const again = recordRelease(dir, 'again', 'v1');
  const slower = recordRelease(dir, 'slower', 'v2');

  it('a function made twice as expensive leads the significant regressions and fails the gate', () => {
    const html = join(dir, 'diff.html');
    const r = luaprofSync(['diff', base, slower, '-o', html, '--fail-on-regression', '5']);
    expect(r.status, r.stderr).toBe(ExitCode.regression);
    const summary = r.stdout;
    const regressions = summary.slice(summary.search(/regress/i));
    const firstFunction = /\b(parse|render|store|burn)\b/.exec(regressions);
    expect(firstFunction?.[1], summary).toBe('parse');
  });

  it('two recordings of the same release: nothing significant, exit 0', () => {
    const r = luaprofSync(['diff', base, again, '--fail-on-regression', '5']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
