/**
 * Itanium C++ ABI demangler (what `c++filt` prints), for the names of native frames.
 *
 * Why our own and not libstdc++'s `__cxa_demangle` through koffi: the names come from the target's
 * binaries, so they are input an attacker can craft, and the demangler runs inside the tracer while
 * it holds the target stopped. The GNU demangler (libiberty's cp-demangle.c, which libstdc++ builds)
 * has a long record of crafted names that overflow its stack by recursion (GCC bug 78252: a name of
 * under 200 characters recursing in d_print_comp until SIGSEGV; several CVEs since) or blow up its
 * output through back-references; LLVM's demangler has had the same (an infinite loop on
 * `_Zcv1BIRT_EIS1_E`, llvm.org/PR51407). A crash there is a SIGSEGV in our process that no JavaScript can
 * catch, and which demangler libstdc++ ships varies with the machine. This one cannot corrupt memory,
 * every error is an exception we catch, and its work per name is bounded explicitly (LIMITS in
 * demangle/cursor.ts: input length, productions, nesting depth, text copied from back-references),
 * so a hostile name costs at most a few milliseconds and comes back unchanged. The price is a
 * grammar we maintain: test/demangle.test.ts pins it to c++filt on libstdc++'s exported names.
 *
 * It covers what shows up in profiles: nested names, templates (with template-parameter references),
 * std:: abbreviations and substitutions, operators, constructors/destructors, cv/ref qualifiers,
 * pointers, references, function and array types, pointers to members, local names (lambdas,
 * anonymous namespaces), special names (vtables, thunks, guard variables) and clone suffixes
 * (".cold", ".isra.0"). Anything it cannot parse comes back unchanged; it never throws.
 *
 * demangle/ast.ts: values and tables; cursor.ts: state, primitives, limits; names.ts: names and
 * special names; parser.ts: types, template arguments, expressions.
 */
import { FAIL } from './demangle/ast.js';
import { LIMITS } from './demangle/cursor.js';
import { Parser } from './demangle/parser.js';

export { LIMITS as DEMANGLE_LIMITS } from './demangle/cursor.js';

/** Demangled names by mangled name, up to CACHE_CHARS characters of both (then it starts over). */
const cache = new Map<string, string>();
const CACHE_CHARS = 16 << 20;
let cacheChars = 0;

/** Demangles an Itanium C++ name; returns the input unchanged when it is not one we can parse. */
export function demangle(name: string): string {
  if (!name.startsWith('_Z') || name.length > LIMITS.MAX_INPUT) return name;
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  let out: string;
  try {
    out = parse(name);
  } catch {
    // A FAIL, or anything else a malformed name provokes (a RangeError included): the raw name.
    out = name;
  }
  cacheChars += name.length + out.length;
  if (cacheChars > CACHE_CHARS) {
    cache.clear();
    cacheChars = name.length + out.length;
  }
  cache.set(name, out);
  return out;
}

function parse(name: string): string {
  const p = new Parser(name);
  p.pos = 2;
  let s = p.encoding(true);
  // Clone suffixes: ".cold", ".isra.0", ".constprop.1", ".part.0", ...
  if (p.pos < name.length) {
    if (name[p.pos] !== '.') throw FAIL;
    const rest = name.slice(p.pos);
    const parts = rest.match(/\.[A-Za-z_]+(?:\.[0-9]+)*|\.[0-9]+/g);
    if (!parts || parts.join('') !== rest) throw FAIL;
    for (const part of parts) s += ` [clone ${part}]`;
  }
  return s;
}
