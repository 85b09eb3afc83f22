/** Batched TString reads (attach-time name walks) answer exactly as the one-at-a-time reader. */
import { describe, expect, it } from 'vitest';
import { SnapshotMemory } from '../sampler/os/memory.js';
import { PUC_LAYOUTS } from '../sampler/lua/puc/layouts.js';
import type { PucLayout } from '../sampler/lua/puc/layout.js';
import { readTString, readTStrings } from '../sampler/lua/puc/strings.js';

const BASE = 0x10000;

/** A TString object of `text` as `layout` lays one out: the header, then the bytes. */
function tstring(layout: PucLayout, text: string, tag?: number): Buffer {
  const ts = layout.tstring;
  const long = text.length > 40 && ts.shrlen !== undefined;
  const b = Buffer.alloc(ts.contents + text.length + 1);
  b[layout.state.tt] = tag ?? (long ? layout.tags.longString : layout.tags.shortString);
  if (ts.shrlen !== undefined && !long) b[ts.shrlen] = text.length;
  else {
    if (ts.shrlen !== undefined && ts.longMarker !== undefined) b[ts.shrlen] = ts.longMarker;
    b.writeBigUInt64LE(BigInt(text.length), ts.len);
  }
  b.write(text, ts.contents, 'latin1');
  return b;
}

describe('readTStrings', () => {
  for (const layout of PUC_LAYOUTS) {
    it(`Lua ${layout.releases[0]}: the same strings as readTString`, () => {
      const texts = ['print', '', 'x'.repeat(39), 'a long key, longer than the guessed body: '.repeat(3)];
      const objects = texts.map((t) => tstring(layout, t));
      objects.push(tstring(layout, 'not a string', 0x0c));
      const addrs: number[] = [];
      const chunks: Buffer[] = [];
      let at = BASE;
      for (const o of objects) {
        addrs.push(at);
        chunks.push(o, Buffer.alloc(16 - (o.length % 16)));
        at += o.length + 16 - (o.length % 16);
      }
      // The last string ends its region: a guessed body read runs past it.
      const edge = tstring(layout, 'end');
      const edgeAddr = 0x90000;
      addrs.push(edgeAddr, 0x50000);
      const mem = new SnapshotMemory([
        { addr: BASE, bytes: Buffer.concat(chunks) },
        { addr: edgeAddr, bytes: edge.subarray(0, layout.tstring.contents + 3) },
      ]);
      const one = addrs.map((a) => readTString(mem, a, layout, 256));
      expect(one.slice(0, 4)).toEqual(texts);
      expect(one.slice(4)).toEqual([null, 'end', null]);
      expect(readTStrings(mem, addrs, layout, 256)).toEqual(one);
      expect(readTStrings(mem, addrs, layout, 10)).toEqual(addrs.map((a) => readTString(mem, a, layout, 10)));
    });
  }
});
