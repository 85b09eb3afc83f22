/**
 * Hostile files through the CLI (issue 13): `report`, `view` and `diff` on mutated profiles the
 * readers refuse end with exit 6 and one line, never a stack trace; a file over the size limit is
 * refused by its size before it is read. bench/hostile-files.ts runs more, and a 300 MB file.
 */
import { closeSync, openSync, ftruncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../sampler/errors.js';
import { hostileInputs, readsSafely, type HostileInput } from '../testkit/hostile-profiles.js';
import { luaprof, tempDir } from './helpers/lua-process.js';

const EXT = { speedscope: 'json', folded: 'folded', pprof: 'pb.gz' };

function refusedInputs(count: number): HostileInput[] {
  const out: HostileInput[] = [];
  for (const input of hostileInputs(2026, 400)) {
    if (out.filter((i) => i.kind === input.kind).length >= count / 3) continue;
    if (readsSafely(input) === 'refused') out.push(input);
    if (out.length >= count) break;
  }
  return out;
}

const oneErrorLine = (stderr: string) => {
  expect(stderr).toMatch(/^luaprof: [^\n]+\n$/);
  expect(stderr).not.toMatch(/\n\s+at |internal error/);
};

describe('hostile profile files through the CLI', () => {
  it('30 refused inputs: report, view and diff each exit 6 with one line', { timeout: 300_000 }, async () => {
    const dir = tempDir();
    const inputs = refusedInputs(30);
    expect(inputs.length).toBe(30);
    const commands = (file: string): string[][] => [
      ['report', '-i', file, '-o', join(dir, 'out.html')],
      ['view', file, '--no-open', '-o', join(dir, 'view.html')],
      ['diff', file, file],
    ];
    const jobs = inputs.map((input, i) => {
      const file = join(dir, `in${i}.${EXT[input.kind]}`);
      writeFileSync(file, input.bytes);
      return { input, args: commands(file)[i % 3] };
    });
    // Three at a time: each run is mostly Node's start-up.
    for (let i = 0; i < jobs.length; i += 3) {
      const runs = await Promise.all(jobs.slice(i, i + 3).map((j) => luaprof(j.args)));
      runs.forEach((r, k) => {
        const { input, args } = jobs[i + k];
        expect(r.status, `${args[0]} ${input.kind} (${input.mutation}): ${r.stderr}`).toBe(
          ExitCode.malformedProfile,
        );
        oneErrorLine(r.stderr);
      });
    }
  });

  it('a 300 MB file is refused by its size before it is read; --max-input-size takes a size', async () => {
    const file = join(tempDir(), 'big.json');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 300 * 1024 * 1024); // sparse: nothing is written, so a read would see zeros
    closeSync(fd);
    const r = await luaprof(['report', '-i', file, '-o', join(tempDir(), 'out.folded')]);
    expect(r.status).toBe(ExitCode.malformedProfile);
    oneErrorLine(r.stderr);
    expect(r.stderr).toContain('300 MB, over the 256 MB limit for profiles (--max-input-size raises it)');
    const bad = await luaprof(['report', '-i', file, '-o', 'x.folded', '--max-input-size', 'lots']);
    expect(bad.status).toBe(ExitCode.badArguments);
    expect(bad.stderr).toMatch(/expected a size such as 512M, 1G or a number of bytes/);
    const small = await luaprof(['diff', file, file, '--max-input-size', '1M']);
    expect(small.status).toBe(ExitCode.malformedProfile);
    expect(small.stderr).toContain('over the 1 MB limit');
  });
});
