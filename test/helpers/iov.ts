/** Remote iovecs ({addr, len} u64 pairs), as PrefetchMemory exports a copy plan. */
export function iovOf(spans: [number, number][]): Buffer {
  const b = Buffer.alloc(spans.length * 16);
  spans.forEach(([addr, len], i) => {
    b.writeBigUInt64LE(BigInt(addr), i * 16);
    b.writeBigUInt64LE(BigInt(len), i * 16 + 8);
  });
  return b;
}
