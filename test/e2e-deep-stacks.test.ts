/**
 * Deep stacks (issue 13, item 3): a Lua recursion 200,000 frames deep on 5.2-5.4, as deep as the
 * interpreter allows on 5.1 (16,380 frames: "stack overflow" past LUAI_MAXCALLS' margin) and LuaJIT
 * (21,827: LJ_STACK_MAX), spinning at the bottom (fixtures/lua/deep.lua). Attach finds the state,
 * each sample keeps the innermost MAX_FRAMES frames with [truncated] outermost, and a sample's cost
 * in luaprof's CPU time stays bounded (measured under a load of ~10 on 2 vCPUs: 6.5-8 ms for PUC,
 * 20 ms for LuaJIT, against ~0.2 ms for a shallow stack: see bench/RESULTS.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import { MAX_FRAMES } from '../sampler/lua/runtime.js';
import { FIXTURES, luaprof, tempDir, waitFor } from './helpers/lua-process.js';

const started: ChildProcess[] = [];
afterAll(() => started.forEach((c) => c.kill('SIGKILL')));

/** Per sample, luaprof's CPU: far above a shallow stack's, far below the 10 ms tick of 100 Hz x 5. */
const CPU_PER_SAMPLE_US = 50_000;

const CASES: [string, number][] = [
  ['lua5.1', 16_000],
  ['lua5.2', 200_000],
  ['lua5.3', 200_000],
  ['lua5.4', 200_000],
  ['luajit', 21_000],
];

describe('a Lua stack as deep as the interpreter allows', () => {
  for (const [lua, depth] of CASES) {
    it(`${lua}, ${depth} frames: every sample cut to ${MAX_FRAMES} frames, [truncated] outermost, bounded cost`, async () => {
      const target = spawn(lua, ['deep.lua', String(depth)], {
        cwd: FIXTURES,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.push(target);
      let out = '';
      target.stdout!.on('data', (d) => (out += d));
      await waitFor(() => out.includes(`deep ${depth}`), 30_000, `${lua} to reach depth ${depth}`);
      const file = join(tempDir(), 'deep.json');
      const r = await luaprof(['record', '-p', String(target.pid), '-d', '1s', '-o', file]);
      target.kill('SIGKILL');
      expect(r.status, r.stderr).toBe(0);
      const p = readProfile(file);
      const stacks = p.threads.flatMap((t) => t.samples.map((s) => p.stacks[s]));
      expect(stacks.length).toBeGreaterThan(0);
      for (const s of stacks) {
        expect(s.length).toBeLessThanOrEqual(MAX_FRAMES + 2);
        expect(p.frames[s[0]].name).toBe('[truncated]');
        expect(p.frames[s[s.length - 1]].name).toBe('spin');
      }
      const cpu = Number(/luaprof CPU ([\d.]+) µs per sample/.exec(r.stderr)?.[1]);
      expect(cpu).toBeLessThan(CPU_PER_SAMPLE_US);
      // The speedscope part writes each sample's stack (its format has no table of stacks): cut to
      // MAX_FRAMES, a sample adds ~2 bytes a frame ("1,"), however deep the stack is. (A bound of
      // 100 bytes a sample, for stacks written once, failed whenever 5.1 took over ~100 samples.)
      expect(statSync(file).size).toBeLessThan(200_000 + stacks.length * 3 * (MAX_FRAMES + 2));
    });
  }
});
