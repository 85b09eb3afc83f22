/** What every runtime's strings share: the bound on what is read, and Lua's own formatting of chunk names. */

/** Names and sources longer than this are cut: they only label frames. */
export const MAX_STRING = 4096;

const LUA_IDSIZE = 60;

/** luaO_chunkid: the short_src that tracebacks and error messages print. */
export function chunkId(source: string): string {
  if (source.startsWith('=')) {
    return source.length - 1 <= LUA_IDSIZE - 1 ? source.slice(1) : source.slice(1, LUA_IDSIZE);
  }
  if (source.startsWith('@')) {
    if (source.length <= LUA_IDSIZE) return source.slice(1);
    const keep = LUA_IDSIZE - 3 - 1;
    return '...' + source.slice(source.length - keep);
  }
  const room = LUA_IDSIZE - '[string "..."]'.length - 1;
  const nl = source.indexOf('\n');
  if (source.length < room && nl < 0) return `[string "${source}"]`;
  let n = nl >= 0 ? nl : source.length;
  if (n > room) n = room;
  return `[string "${source.slice(0, n)}..."]`;
}
