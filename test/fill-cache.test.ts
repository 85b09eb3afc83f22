/**
 * PucCapture.fill: closures and Proto headers of a capture in one batched read (each closure once, the
 * Proto its last read pointed at beside it), and the guess proved wrong when a closure's address is
 * reused for another function: the Proto the closure points at now is read, never the remembered one.
 * CiChainCache: a chain read again unchanged keeps its entry; a changed one replaces it.
 */
import { describe, expect, it } from 'vitest';
import { CiChainCache, PucCapture, type RawFrame, type RawLuaStack } from '../sampler/lua/puc/capture.js';
import { layoutFor } from '../sampler/lua/puc/layouts.js';
import type { Memory, Range } from '../sampler/os/memory.js';

const layout = layoutFor('5.4.4')!;
const CLOSURE = 0x5000_0000;
const PROTO_A = 0x6000_0000;
const PROTO_B = 0x6100_0000;

/** Memory of a few objects at fixed addresses; counts calls and ranges, as a live process would pay them. */
class ObjectMemory implements Memory {
  readonly objects = new Map<number, Buffer>();
  batches = 0;
  ranges = 0;
  read(addr: number, len: number): Buffer | null {
    const b = this.objects.get(addr);
    return b && b.length >= len ? b.subarray(0, len) : null;
  }
  readMany(rs: readonly Range[]): (Buffer | null)[] {
    this.batches++;
    this.ranges += rs.length;
    return rs.map((r) => this.read(r.addr, r.len));
  }
}

function closurePointingAt(proto: number): Buffer {
  const b = Buffer.alloc(layout.closure.cupvalue + layout.tvalue.size);
  b.writeBigUInt64LE(BigInt(proto), layout.closure.lp);
  return b;
}

/** A Proto header told apart by its linedefined. */
function protoHeader(lineDefined: number): Buffer {
  const b = Buffer.alloc(layout.proto.size);
  b.writeInt32LE(lineDefined, layout.proto.linedefined);
  return b;
}

function frame(funcValue: number): RawFrame {
  return {
    ci: 0x7000_0000,
    func: 0x7100_0000,
    callstatus: 0,
    savedpc: 0,
    funcTag: layout.tags.luaClosure,
    funcValue,
    closure: null,
    protoAddr: 0,
    proto: null,
    arg1Tag: 0,
    arg1Value: 0,
  };
}

/** A capture of `depth` frames all running the closure at CLOSURE (a recursion). */
function capture(depth: number): RawLuaStack {
  const frames = Array.from({ length: depth }, () => frame(CLOSURE));
  return { G: 0x1000, threads: [{ L: 0x2000, frames, truncated: false, cut: 0 }] };
}

// One frame takes fill()'s own path (the usual case once the outer frames are recalled).
describe.each([30, 1])('PucCapture.fill, %i frames', (depth) => {
  it('reads each closure once, and its Proto beside it once the closure has been seen', () => {
    const mem = new ObjectMemory();
    mem.objects.set(CLOSURE, closurePointingAt(PROTO_A));
    mem.objects.set(PROTO_A, protoHeader(10));
    const cap = new PucCapture(layout);
    const first = capture(depth);
    cap.fill(mem, first);
    expect(mem.batches).toBe(2); // closure, then the Proto it points at
    expect(mem.ranges).toBe(2);
    expect(first.threads[0].frames.every((f) => f.protoAddr === PROTO_A)).toBe(true);
    expect(first.threads[0].frames.every((f) => f.proto?.readInt32LE(layout.proto.linedefined) === 10)).toBe(
      true,
    );
    mem.batches = mem.ranges = 0;
    cap.fill(mem, capture(depth));
    expect(mem.batches).toBe(1); // closure and guessed Proto together
    expect(mem.ranges).toBe(2);
  });

  it('reads the Proto a reused closure address points at now, not the one it pointed at before', () => {
    const mem = new ObjectMemory();
    mem.objects.set(CLOSURE, closurePointingAt(PROTO_A));
    mem.objects.set(PROTO_A, protoHeader(10));
    mem.objects.set(PROTO_B, protoHeader(20));
    const cap = new PucCapture(layout);
    cap.fill(mem, capture(depth));
    // The closure was collected and another function's closure allocated at the same address.
    mem.objects.set(CLOSURE, closurePointingAt(PROTO_B));
    const raw = capture(depth);
    cap.fill(mem, raw);
    for (const f of raw.threads[0].frames) {
      expect(f.protoAddr).toBe(PROTO_B);
      expect(f.proto?.readInt32LE(layout.proto.linedefined)).toBe(20);
    }
    // And the guess follows: the next fill reads PROTO_B beside the closure, in one batch.
    mem.batches = 0;
    const again = capture(depth);
    cap.fill(mem, again);
    expect(mem.batches).toBe(1);
    expect(again.threads[0].frames[0].proto?.readInt32LE(layout.proto.linedefined)).toBe(20);
  });

  it('leaves the Proto out when its header cannot be read (freed), whatever was guessed', () => {
    const mem = new ObjectMemory();
    mem.objects.set(CLOSURE, closurePointingAt(PROTO_A));
    mem.objects.set(PROTO_A, protoHeader(10));
    const cap = new PucCapture(layout);
    cap.fill(mem, capture(depth));
    mem.objects.delete(PROTO_A);
    const raw = capture(depth);
    cap.fill(mem, raw);
    expect(raw.threads[0].frames[0].protoAddr).toBe(PROTO_A);
    expect(raw.threads[0].frames[0].proto).toBeNull();
  });
});

describe('CiChainCache', () => {
  it('keeps the chain it has when the same one is read again, and takes a changed one whole', () => {
    const cache = new CiChainCache();
    cache.set(1, [0x10, 0x20, 0x30]);
    const first = cache.get(1);
    cache.set(1, [0x10, 0x20, 0x30]);
    expect(cache.get(1)).toBe(first);
    cache.set(1, [0x10, 0x28, 0x30]);
    expect(cache.get(1)!.list).toEqual([0x10, 0x28, 0x30]);
    expect(cache.get(1)!.at.get(0x28)).toBe(1);
    expect(cache.get(1)!.at.has(0x20)).toBe(false);
    cache.set(1, [0x10, 0x28]);
    expect(cache.get(1)!.list).toEqual([0x10, 0x28]);
  });
});
