import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Profile } from '../aggregator/profile.js';
import { runCommand } from '../cli/output.js';
import { registerReportCommands, runReport, runView } from '../cli/report-commands.js';
import { fromFolded, toFolded } from '../report/folded.js';
import { profileFacts, renderFlamegraphHtml } from '../report/html.js';
import { fromPprof } from '../report/pprof.js';
import { ProfileFormatError, parseProfile, readProfile } from '../report/read.js';
import { fromSpeedscope, joinParts, speedscopeParts, toSpeedscope } from '../report/speedscope.js';
import { encodeProfile, inferFormat, writeProfile } from '../report/write.js';
import { tempDir } from './helpers/lua-process.js';
import { F, HOSTILE, fixtureProfile } from './helpers/report-fixtures.js';

const dir = tempDir('luaprof-report-test-');

/** Multiset of (thread, stack as frame texts, weight): what every format must preserve. */
function stackCounts(p: Profile, withThread = true): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of p.threads) {
    for (let i = 0; i < t.samples.length; i++) {
      const st = p.stacks[t.samples[i]]
        .map((fi) => `${p.frames[fi].name}@${p.frames[fi].file ?? ''}`)
        .join(';');
      const key = withThread ? `${t.tid}|${st}` : st;
      out.set(key, (out.get(key) ?? 0) + t.weights[i]);
    }
  }
  return out;
}

describe('speedscope', () => {
  it('round-trips a luaprof profile exactly (frames, stacks, threads, times, meta)', () => {
    const p = fixtureProfile();
    const back = fromSpeedscope(JSON.parse(toSpeedscope(p)));
    expect(back.meta).toEqual(p.meta);
    expect(back.frames).toEqual(p.frames);
    expect(back.threads.map((t) => [t.tid, t.pid, t.name, t.times, t.weights])).toEqual(
      p.threads.map((t) => [t.tid, t.pid, t.name, t.times, t.weights]),
    );
    expect(stackCounts(back)).toEqual(stackCounts(p));
  });

  it('writes sample times to the µs', () => {
    const p = fixtureProfile();
    p.threads[0].times[0] = 128.63068420016288;
    const back = fromSpeedscope(JSON.parse(toSpeedscope(p)));
    expect(back.threads[0].times[0]).toBe(128.631);
  });

  it('is a valid speedscope document: one sampled profile per thread, shared frames', () => {
    const doc = JSON.parse(toSpeedscope(fixtureProfile()));
    expect(doc.$schema).toBe('https://www.speedscope.app/file-format-schema.json');
    expect(doc.profiles).toHaveLength(2);
    for (const pr of doc.profiles) {
      expect(pr.type).toBe('sampled');
      expect(pr.samples.length).toBe(pr.weights.length);
      for (const s of pr.samples) for (const fi of s) expect(fi).toBeLessThan(doc.shared.frames.length);
    }
    expect(doc.profiles[0].unit).toBe('milliseconds');
    expect(doc.profiles[0].endValue).toBe(1000); // 100 samples × 10 ms
    expect(doc.exporter).toMatch(/^luaprof@/);
  });

  it('is written in parts of bounded size that join into the one canonical JSON text', () => {
    const p = fixtureProfile();
    const t = p.threads[0];
    for (let i = 0; i < 150_000; i++) {
      t.samples.push(i % p.stacks.length);
      t.times.push(1000 + i * 0.25);
      t.weights.push(i % 5 === 0 ? 2.5 : 1);
    }
    const parts = [...speedscopeParts(p)];
    expect(parts.length).toBeGreaterThan(6);
    expect(Math.max(...parts.map((x) => x.length))).toBeLessThan(4 << 20);
    const text = joinParts(parts);
    // What JSON.stringify makes of the parsed document, key order and numbers included.
    expect(JSON.stringify(JSON.parse(text))).toBe(text);
    const back = fromSpeedscope(JSON.parse(text));
    expect(back.threads[0].times).toEqual(t.times);
    expect(back.threads[0].weights).toEqual(t.weights);
    expect(stackCounts(back)).toEqual(stackCounts(p));
  });

  it('reads a speedscope file written by another tool (no luaprof extension)', () => {
    const doc = {
      $schema: 'https://www.speedscope.app/file-format-schema.json',
      shared: { frames: [{ name: 'a', file: 'x.lua', line: 1 }, { name: 'b' }] },
      profiles: [
        {
          type: 'sampled',
          name: 'p',
          unit: 'none',
          startValue: 0,
          endValue: 3,
          samples: [[0], [0, 1], [0, 1]],
          weights: [1, 1, 1],
        },
        {
          type: 'evented',
          name: 'e',
          unit: 'none',
          startValue: 0,
          endValue: 10,
          events: [
            { type: 'O', frame: 0, at: 0 },
            { type: 'O', frame: 1, at: 4 },
            { type: 'C', frame: 1, at: 10 },
            { type: 'C', frame: 0, at: 10 },
          ],
        },
      ],
    };
    const p = fromSpeedscope(doc);
    expect(p.threads).toHaveLength(2);
    expect(stackCounts(p, false)).toEqual(
      new Map([
        ['a@x.lua', 1 + 4],
        ['a@x.lua;b@', 2 + 6],
      ]),
    );
  });
});

describe('folded', () => {
  it('matches the FlameGraph line format and adds up to the sample count', () => {
    const p = fixtureProfile();
    const text = toFolded(p);
    const lines = text.trimEnd().split('\n');
    let sum = 0;
    for (const line of lines) {
      expect(line).toMatch(/^[^;\n]+(;[^;\n]+)* \d+$/);
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    expect(sum).toBe(140);
    expect(lines).toContain('[tid 4242 main];main chunk (app.lua:0);work (app.lua:3);string.rep ([C]) 60');
    expect(lines).toContain('[tid 4243 worker];main chunk (app.lua:0);trace_7 (app.lua:5)_[j] 30');
  });

  it('round-trips stacks, counts, threads and frame kinds', () => {
    const p = fixtureProfile();
    const back = fromFolded(toFolded(p));
    expect(stackCounts(back)).toEqual(stackCounts(p));
    const kinds = Object.fromEntries(back.frames.map((f) => [f.name, f.kind]));
    expect(kinds).toMatchObject({
      'main chunk': 'lua',
      'string.rep': 'c',
      trace_7: 'jit',
      '[gc]': 'gc',
      evil: 'lua',
    });
    expect(back.frames.find((f) => f.name === 'evil')?.file).toBe(HOSTILE);
    expect(toFolded(back)).toBe(toFolded(p));
  });

  it('reads FlameGraph/inferno folded text from other tools', () => {
    const p = fromFolded('# comment\nmain;foo;bar 3\nmain;foo 2\r\n\nmain;baz_[k] 1\n');
    expect(p.threads).toHaveLength(1);
    expect(p.meta.samples).toBe(6);
    expect(stackCounts(p, false)).toEqual(
      new Map([
        ['main@;foo@;bar@', 3],
        ['main@;foo@', 2],
        ['main@;baz@', 1],
      ]),
    );
  });

  it('keeps a single-thread profile free of thread pseudo-frames and sanitises ";"', () => {
    const b = fromFolded('a;b 1\n');
    b.frames[1].name = 'x;y\nz';
    expect(toFolded(b)).toBe('a;x:y z 1\n');
  });
});

describe('pprof', () => {
  it('writes gzipped protobuf that reads back to the same stacks and counts', () => {
    const p = fixtureProfile();
    const buf = encodeProfile(p, 'pprof') as Buffer;
    expect(buf[0]).toBe(0x1f);
    expect(buf[1]).toBe(0x8b);
    expect(gunzipSync(buf).length).toBeGreaterThan(0);
    const back = fromPprof(buf);
    expect(stackCounts(back)).toEqual(stackCounts(p));
    expect(back.meta.rate).toBe(100);
    expect(back.meta.luaVersion).toBe('Lua 5.4.6');
  });
});

describe('readProfile / writeProfile', () => {
  it("a text past V8's longest string is a profile too large to read, not an internal error", () => {
    // What Node throws for a file of more than ~512 MB of text (an hour of a busy host as speedscope).
    const huge = Buffer.from('{"shared":{}}');
    huge.toString = () => {
      throw Object.assign(new Error('Cannot create a string longer than 0x1fffffe8 characters'), {
        code: 'ERR_STRING_TOO_LONG',
      });
    };
    expect(() => parseProfile(huge, 'hour.json')).toThrow(ProfileFormatError);
    expect(() => parseProfile(huge, 'hour.json')).toThrow(
      /^hour\.json: too large or too deeply nested to read/,
    );
  });

  it('infers formats from extensions', () => {
    expect(inferFormat('a.json')).toBe('speedscope');
    expect(inferFormat('a.HTML')).toBe('html');
    expect(inferFormat('a.folded')).toBe('folded');
    expect(inferFormat('a.txt')).toBe('folded');
    expect(inferFormat('a.pb.gz')).toBe('pprof');
    expect(inferFormat('a.pprof')).toBe('pprof');
    expect(inferFormat('a.bin')).toBeNull();
  });

  it('reads every written readable format back, recognising the format from content', async () => {
    const p = fixtureProfile();
    for (const [fmt, name] of [
      ['speedscope', 'x.json'],
      ['folded', 'x.folded'],
      ['pprof', 'x.pb.gz'],
      ['folded', 'folded-named.json.txt'],
    ] as const) {
      const file = join(dir, name);
      await writeProfile(p, file, fmt);
      expect(stackCounts(readProfile(file)), fmt).toEqual(stackCounts(p));
    }
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('throws ProfileFormatError with one clear line on malformed input', () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'bad.json',
        '{\n  "shared": {\n  "frames": [,]\n}',
        /^bad\.json: not a speedscope or folded profile \(invalid JSON at line 3\)$/,
      ],
      ['other.json', '{"hello": 1}', /^other\.json: JSON but not a speedscope profile/],
      [
        'bad.txt',
        'main;foo 3\nthis line has no count\n',
        /^bad\.txt: not a speedscope or folded profile \(line 2 does not end in a sample count\)$/,
      ],
      ['empty.json', '', /^empty\.json: empty file$/],
      [
        'shape.json',
        '{"shared":{"frames":[{"name":"a"}]},"profiles":[{"type":"sampled","samples":[[7]],"weights":[1]}]}',
        /^shape\.json: malformed speedscope profile \(profile 0: sample 0 refers to frame 7\)$/,
      ],
    ];
    for (const [name, content, re] of cases) {
      const file = join(dir, name);
      writeFileSync(file, content);
      let err: unknown;
      try {
        readProfile(file);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(ProfileFormatError);
      const msg = (err as Error).message.replace(dir + '/', '');
      expect(msg, name).toMatch(re);
      expect(msg).not.toContain('\n');
    }
    expect(() => readProfile(join(dir, 'missing.json'))).toThrow(
      /missing\.json: cannot read \(no such file\)/,
    );
  });
});

describe('HTML report (static checks)', () => {
  it('is one self-contained file: no external URL, strict CSP, data not executable', () => {
    const html = renderFlamegraphHtml(fixtureProfile());
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(html).toMatch(/default-src (&#39;|')none/);
    expect(html).not.toContain(HOSTILE); // only ever present JSON-escaped
    expect(html).toContain('\\u003cimg src=x onerror=alert(1)\\u003e');
    expect(html.length).toBeLessThan(600_000);
  });

  it("the header's figures: stops taken to find states only when there were some, formatted", () => {
    const meta = { ...fixtureProfile().meta, cpuPerSampleUs: 76.95499999999811 };
    const facts = new Map(profileFacts(meta, 1));
    expect(facts.get('luaprof CPU')).toBe('77.0 µs per sample');
    expect(facts.has('stops to find states')).toBe(false);
    expect(new Map(profileFacts({ ...meta, searchStops: 4 }, 1)).get('stops to find states')).toBe('4');
  });
});

describe('luaprof report / view commands', () => {
  afterEach(() => vi.restoreAllMocks());

  async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    // Actions return their exit code; only cli/main.ts exits.
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => {
      throw new Error('process.exit called');
    }) as never);
    const program = new Command('luaprof');
    registerReportCommands(program);
    const code = await runCommand(program, ['node', 'luaprof', ...args]);
    expect(exit).not.toHaveBeenCalled();
    return { code, stderr };
  }

  it('converts between formats, the format inferred from -o or given by -f', async () => {
    const src = join(dir, 'src.json');
    await writeProfile(fixtureProfile(), src, 'speedscope');
    expect(await runReport({ input: src, output: join(dir, 'c.folded') })).toBe('folded');
    expect(
      await runReport({ input: join(dir, 'c.folded'), output: join(dir, 'c.out'), format: 'pprof' }),
    ).toBe('pprof');
    expect(await runReport({ input: join(dir, 'c.out'), output: join(dir, 'c.html') })).toBe('html');
    expect(readFileSync(join(dir, 'c.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
    const r = await cli(['report', '-i', src, '-o', join(dir, 'd.txt')]);
    expect(r.code, r.stderr).toBe(0);
    expect(stackCounts(readProfile(join(dir, 'd.txt')))).toEqual(stackCounts(fixtureProfile()));
  });

  it('exits 2 for bad arguments and 6 for a malformed profile, with one line and no stack trace', async () => {
    writeFileSync(join(dir, 'garbage.json'), '{ nope');
    const src = join(dir, 'src.json');
    const cases: Array<[string[], number, RegExp]> = [
      [
        ['report', '-i', src, '-o', join(dir, 'out.xyz')],
        2,
        /^luaprof: cannot tell the format of .*out\.xyz/,
      ],
      [
        ['report', '-i', src, '-o', join(dir, 'o.json'), '-f', 'svg'],
        2,
        /^luaprof: option .*-f.* argument 'svg' is invalid/,
      ],
      [['report', '-o', join(dir, 'o.json')], 2, /^luaprof: required option/],
      [
        ['report', '-i', join(dir, 'garbage.json'), '-o', join(dir, 'o.json')],
        6,
        /^luaprof: .*garbage\.json: not a speedscope or folded profile/,
      ],
      [
        ['report', '-i', join(dir, 'nothere.json'), '-o', join(dir, 'o.json')],
        6,
        /^luaprof: .*nothere\.json: cannot read/,
      ],
      [['diff', src], 2, /^luaprof: missing required argument/],
      [['diff', src, src, '--fail-on-regression', 'lots'], 2, /^luaprof: .*lots/],
    ];
    for (const [args, code, re] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('view writes one page with speedscope and the profile, and prints its path without a display', async () => {
    const src = join(dir, 'src.json');
    const out = join(dir, 'view.html');
    const saved = {
      DISPLAY: process.env.DISPLAY,
      WAYLAND_DISPLAY: process.env.WAYLAND_DISPLAY,
      BROWSER: process.env.BROWSER,
    };
    delete process.env.DISPLAY;
    delete process.env.WAYLAND_DISPLAY;
    delete process.env.BROWSER;
    try {
      const r = await runView(src, { output: out });
      expect(r).toEqual({ path: out, opened: false });
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
    }
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('loadFileFromBase64');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=["'](?!data:)/i);
    expect(existsSync(out)).toBe(true);
  });
});

// keep F referenced for readers of this file: the fixture frames used above
void F;
