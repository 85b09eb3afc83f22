import { describe, expect, it } from 'vitest';
import { arrayBytes, JsonBytes, writeMilliseconds } from '../report/json-bytes.js';
import { rng } from '../bench/rng.js';

/** What speedscope.ts wrote before: the time rounded to the µs, as JSON.stringify writes it. */
const asStringified = (ms: number | undefined) =>
  ms === undefined ? 'null' : JSON.stringify(Math.round(ms * 1e3) / 1e3);

function written(ms: number | undefined): string {
  const out = new JsonBytes(4);
  writeMilliseconds(out, ms);
  return out.take().toString('latin1');
}

describe('JSON bytes', () => {
  it('writes a time in ms to the µs exactly as JSON.stringify writes the rounded number', () => {
    const edge = [
      0,
      -0,
      0.0004,
      0.0005,
      0.001,
      0.01,
      0.1,
      0.005,
      0.05,
      0.12,
      1,
      9.999,
      9.9995,
      10,
      12.3456,
      100.05,
      999.9999,
      1000.0005,
      2 ** 31,
      2 ** 31 + 0.001,
      3.6e6 + 0.007,
      86_400_000.123,
      999_999_999_999.999,
      1e12,
      1e12 + 0.5,
      1e13,
      -1,
      -0.0004,
      -12.345,
      1e300,
      1e306,
      -1e306,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      NaN,
      Infinity,
      -Infinity,
      undefined,
    ];
    for (const ms of edge) expect(written(ms), String(ms)).toBe(asStringified(ms));
    const rand = rng(11);
    for (let i = 0; i < 20_000; i++) {
      const scale = 10 ** Math.floor(rand() * 13);
      const ms = rand() * scale;
      expect(written(ms), String(ms)).toBe(asStringified(ms));
      const us = Math.floor(rand() * 1e9) / 1e3; // already on a µs
      expect(written(us), String(us)).toBe(asStringified(us));
    }
  });

  it('writes integers, texts and bytes, growing past its first capacity', () => {
    const out = new JsonBytes(2);
    out.uint(0);
    out.byte(0x2c);
    out.uint(9_007_199_254_740_991);
    out.ascii(',x');
    out.bytes(Buffer.from('[1,2]'));
    expect(out.length).toBe(25);
    expect(out.take().toString()).toBe('0,9007199254740991,x[1,2]');
    expect(out.length).toBe(0);
  });

  it('splits an array into parts that join into its JSON text', () => {
    const items = Array.from({ length: 10 }, (_, i) => i * 7);
    const whole = (n: number, per: number) =>
      Buffer.concat([...arrayBytes(n, per, (out, i) => out.uint(items[i]))]).toString();
    for (const per of [1, 3, 10, 11]) expect(whole(10, per)).toBe(JSON.stringify(items));
    expect([...arrayBytes(10, 3, (out, i) => out.uint(items[i]))]).toHaveLength(4);
    expect(whole(0, 3)).toBe('[]');
  });
});
