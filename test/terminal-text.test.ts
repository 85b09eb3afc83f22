/** Target text made inert for terminals, and Lua values rendered as dump --locals prints them. */
import { describe, expect, it, vi } from 'vitest';
import { errorLine } from '../cli/output.js';
import { inert, inertBytes, inertJson, inertLatin1 } from '../report/terminal-text.js';
import { formatFloat, formatG14, formatString } from '../sampler/lua/values.js';
import { PucLocals } from '../sampler/lua/puc/locals.js';
import { layoutFor } from '../sampler/lua/puc/layouts.js';
import { SnapshotMemory } from '../sampler/os/memory.js';
import { candidateLayouts } from '../sampler/lua/luajit/layout.js';
import { LjLocals } from '../sampler/lua/luajit/locals.js';

describe('inert text', () => {
  it('escapes C0, DEL and C1 controls', () => {
    expect(inert('a\x1b[2J\x07\x7f\x9bz\n')).toBe('a\\x1b[2J\\x07\\x7f\\x9bz\\n');
    expect(inert('plain é ✓')).toBe('plain é ✓');
  });
  it('keeps valid UTF-8 and escapes invalid bytes and encoded C1', () => {
    expect(inertBytes(Buffer.from('é✓', 'utf8'))).toBe('é✓');
    expect(inertBytes(Buffer.from([0x41, 0xff, 0xc3, 0x28, 0xc2, 0x9b]))).toBe('A\\xff\\xc3(\\xc2\\x9b');
    expect(inertBytes(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\\xed\\xa0\\x80'); // a surrogate
    expect(inertBytes(Buffer.from('"\\'), true)).toBe('\\"\\\\');
  });
  it('reads latin1 target strings as the bytes they are', () => {
    expect(inertLatin1(Buffer.from('é\x1b', 'utf8').toString('latin1'))).toBe('é\\x1b');
    expect(inertLatin1('ok.lua')).toBe('ok.lua');
  });
  it('JSON keeps its data and escapes DEL and C1', () => {
    const json = inertJson(JSON.stringify({ s: '\x9b\x7f\x1b' }));
    expect(json).toBe('{"s":"\\u009b\\u007f\\u001b"}');
    expect(JSON.parse(json).s).toBe('\x9b\x7f\x1b');
  });
});

describe('Lua values', () => {
  it('formats floats like %.14g and marks integral floats in 5.3+', () => {
    expect(formatG14(0.25)).toBe('0.25');
    expect(formatG14(2 ** 53)).toBe('9.007199254741e+15');
    expect(formatG14(1e-300)).toBe('1e-300');
    expect(formatG14(100)).toBe('100');
    expect(formatG14(1 / 3)).toBe('0.33333333333333');
    expect(formatG14(123456789012345)).toBe('1.2345678901234e+14');
    expect(formatG14(0.0001)).toBe('0.0001');
    expect(formatG14(0.00001)).toBe('1e-05');
    expect(formatG14(-Infinity)).toBe('-inf');
    expect(formatFloat(3, true)).toBe('3.0');
    expect(formatFloat(-0, true)).toBe('-0.0');
    expect(formatFloat(3, false)).toBe('3');
    expect(formatFloat(1e100, true)).toBe('1e+100');
  });
  it('quotes, escapes and cuts strings', () => {
    expect(formatString(Buffer.from('a"b'), 3)).toBe('"a\\"b"');
    expect(formatString(Buffer.from('x'.repeat(80)), 1 << 20)).toBe(`"${'x'.repeat(80)}"... (1048576 bytes)`);
  });
});

/** A 5.4 TValue: 8 value bytes, then the tag byte. */
function tv54(tag: number, fill: (b: Buffer) => void = () => undefined): Buffer {
  const b = Buffer.alloc(16);
  fill(b);
  b[8] = tag;
  return b;
}

describe('PUC values read from memory', () => {
  const l54 = layoutFor('5.4.4')!;
  const strAddr = 0x10000;
  const str = Buffer.alloc(l54.tstring.contents + 5);
  str[l54.state.tt] = l54.tags.shortString;
  str[l54.tstring.shrlen!] = 5;
  Buffer.from('h\x1bi"\xff', 'latin1').copy(str, l54.tstring.contents);
  const mem = new SnapshotMemory([{ addr: strAddr, bytes: str }]);
  const r = new PucLocals(mem, l54, 0x20000);

  it('renders every basic type of 5.4', () => {
    expect(r.value('n', tv54(0))).toEqual({ name: 'n', type: 'nil', value: 'nil' });
    expect(r.value('f', tv54(0x01)).value).toBe('false');
    expect(r.value('t', tv54(0x11)).value).toBe('true');
    expect(
      r.value(
        'i',
        tv54(0x03, (b) => b.writeBigInt64LE(-42n)),
      ).value,
    ).toBe('-42');
    expect(
      r.value(
        'x',
        tv54(0x13, (b) => b.writeDoubleLE(2)),
      ),
    ).toEqual({ name: 'x', type: 'number', value: '2.0' });
    expect(
      r.value(
        's',
        tv54(l54.tags.shortString, (b) => b.writeUInt32LE(strAddr)),
      ).value,
    ).toBe('"h\\x1bi\\"\\xff"');
    expect(
      r.value(
        'u',
        tv54(0x47, (b) => b.writeUInt32LE(0xabc0)),
      ),
    ).toEqual({
      name: 'u',
      type: 'userdata',
      value: 'userdata: 0xabc0',
    });
    expect(
      r.value(
        'co',
        tv54(0x48, (b) => b.writeUInt32LE(0xabc0)),
      ).type,
    ).toBe('thread');
  });

  it('does not crash on unreadable objects or bad tags', () => {
    expect(
      r.value(
        's',
        tv54(l54.tags.shortString, (b) => b.writeUInt32LE(0x99990)),
      ).value,
    ).toMatch(/^<unreadable string/);
    expect(
      r.value(
        't',
        tv54(l54.tags.table, (b) => b.writeUInt32LE(0x99990)),
      ).value,
    ).toBe('table: 0x99990');
    expect(r.value('b', tv54(0x0f)).value).toMatch(/^<bad tag/);
  });

  it('reads 5.1 numbers and booleans (int tags, doubles only)', () => {
    const l51 = layoutFor('5.1.5')!;
    const r51 = new PucLocals(mem, l51, 0x20000);
    const tv = (tag: number, fill: (b: Buffer) => void) => {
      const b = Buffer.alloc(16);
      fill(b);
      b.writeInt32LE(tag, l51.tvalue.tt);
      return b;
    };
    expect(
      r51.value(
        'x',
        tv(3, (b) => b.writeDoubleLE(2)),
      ).value,
    ).toBe('2');
    expect(
      r51.value(
        'y',
        tv(1, (b) => b.writeInt32LE(1)),
      ).value,
    ).toBe('true');
  });
});

describe('%.14g against Lua itself', () => {
  it('matches values Lua printed (lua5.4 -e "print(string.format(\'%.14g\', x))")', () => {
    // Printed by lua5.4 on this platform (glibc).
    const printed: [number, string][] = [
      [123456789012345, '1.2345678901234e+14'],
      [0.1 + 0.2, '0.3'],
      [2.5e-5, '2.5e-05'],
      [99999999999999.5, '1e+14'],
      [12345.678, '12345.678'],
      [-1.5, '-1.5'],
      [1e15, '1e+15'],
      [0.5, '0.5'],
    ];
    for (const [x, s] of printed) expect(formatG14(x), String(x)).toBe(s);
  });
});

describe('error lines', () => {
  it('print a message quoting the target inert', () => {
    let stderr = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
    try {
      errorLine('process 42 runs \x1b]0;pwned\x07\x9b2J chunk\nsecond line');
    } finally {
      spy.mockRestore();
    }
    expect(stderr).toBe('luaprof: process 42 runs \\x1b]0;pwned\\x07\\x9b2J chunk\n');
  });
});

describe('LuaJIT (GC64) values read from memory', () => {
  const l = candidateLayouts('2.1.0-beta3')[0];
  const r = new LjLocals(new SnapshotMemory([]), l, {
    lookup: () => undefined,
    ffidName: () => undefined,
  } as never);
  /** A GC64 TValue: type n as ~n in the top 17 bits, a 47-bit pointer below. */
  const tagged = (n: number, ptr = 0) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(ptr % 0x1_0000_0000, 0);
    b.writeUInt32LE(((((~n >>> 0) & 0x1ffff) << 15) | Math.floor(ptr / 0x1_0000_0000)) >>> 0, 4);
    return b;
  };
  const num = (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(x);
    return b;
  };

  it('decodes numbers (negative and NaN too), booleans, nil and objects by type', () => {
    expect(r.value('a', num(3), 0)).toEqual({ name: 'a', type: 'number', value: '3' });
    expect(r.value('b', num(-0.5), 0).value).toBe('-0.5');
    expect(r.value('c', num(NaN), 0).type).toBe('number');
    const nil = Buffer.alloc(8, 0xff);
    expect(r.value('n', nil, 0)).toEqual({ name: 'n', type: 'nil', value: 'nil' });
    expect(r.value('f', tagged(1), 0).value).toBe('false');
    expect(r.value('t', tagged(2), 0).value).toBe('true');
    expect(r.value('u', tagged(12, 0x7f00_1234_5678), 0)).toEqual({
      name: 'u',
      type: 'userdata',
      value: 'userdata: 0x7f0012345678',
    });
    expect(r.value('s', tagged(4, 0x7f00_0000_1000), 0).value).toMatch(/^<unreadable string/);
    expect(r.value('x', tagged(11, 0x7f00_0000_1000), 0).value).toBe('table: 0x7f0000001000');
  });
});
