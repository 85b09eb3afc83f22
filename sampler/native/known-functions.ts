/**
 * Functions that a stripped build hides but whose place is known, by build-id: data, not code. Each
 * entry was found by scripts/known-functions/find.sh (the function compiled from the package's own
 * source with its build flags, its bytes matched in the packaged object, relocated bytes masked). The
 * symbolizer names a pc by an entry only when the object's build-id matches and the FDE that covers
 * the pc spans exactly [start, start + size).
 */
export interface KnownFunction {
  name: string;
  /** ELF vaddr of the function's first byte. */
  start: number;
  size: number;
}

export const KNOWN_FUNCTIONS: Readonly<Record<string, readonly KnownFunction[]>> = {
  // Debian bookworm liblua5.2-0 5.2.4-3: /usr/lib/x86_64-linux-gnu/liblua5.2.so.0.0.0
  eb6e04955d2413317569a2561f6b6d2b0f6cb803: [{ name: 'luaV_execute', start: 0x1a4b0, size: 6007 }],
  // Debian bookworm lua5.2 5.2.4-3: /usr/bin/lua5.2 (Lua linked in statically)
  '6e0b55d0415ba05e40764fe6aa797fd99c768712': [{ name: 'luaV_execute', start: 0x17960, size: 6007 }],
  // Debian bookworm liblua5.3-0 5.3.6-2: /usr/lib/x86_64-linux-gnu/liblua5.3.so.0.0.0
  a7840e78a3060a43284d562ec4ac79d699b20950: [{ name: 'luaV_execute', start: 0x1c120, size: 9086 }],
  // Debian bookworm lua5.3 5.3.6-2: /usr/bin/lua5.3
  '5a385d648fc81692de824e6caab1695b92711cc8': [{ name: 'luaV_execute', start: 0x19240, size: 9086 }],
  // Debian bookworm liblua5.4-0 5.4.4-3+deb12u1: /usr/lib/x86_64-linux-gnu/liblua5.4.so.0.0.0
  '31adfea5d64ca45c3826ea317483e811c7c91598': [{ name: 'luaV_execute', start: 0x1ef00, size: 15210 }],
  // Debian bookworm lua5.4 5.4.4-3+deb12u1: /usr/bin/lua5.4
  '1061f95d5cf9242924aac24fb75ecdcab7eac0e6': [{ name: 'luaV_execute', start: 0x1b3a0, size: 15210 }],
};

/** The known function of a build that starts at an FDE's start and has its length, if any. */
export function knownFunction(
  buildId: string | null,
  fde: { start: number; end: number },
): KnownFunction | null {
  if (!buildId) return null;
  const list = KNOWN_FUNCTIONS[buildId];
  if (!list) return null;
  return list.find((k) => k.start === fde.start && k.start + k.size === fde.end) ?? null;
}
