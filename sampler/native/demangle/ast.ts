/**
 * The demangler's values and tables: a parsed type (Ty) and how it prints, the Itanium ABI's builtin
 * types, operators and std:: abbreviations, and the failure every parse error throws.
 */

export interface Ty {
  /** Text of a plain type (with its pointer/cv suffixes). */
  s: string;
  /** Function type parts, when this is (a pointer/reference to) a function. */
  fn?: { ret: string; params: string; quals: string };
  /** Array type parts. */
  arr?: { elem: string; dim: string };
  /** Declarator operators applied to a function/array type: "*", "&", "const", … */
  decl?: string;
  /** Outermost declarator is a reference (for reference collapsing). */
  ref?: '&' | '&&';
  /** A template argument pack (J…E). */
  pack?: Ty[];
}

export function render(t: Ty): string {
  if (t.fn) {
    const d = t.decl ? ` (${t.decl})` : ' ';
    return `${t.fn.ret}${d}(${t.fn.params})${t.fn.quals}`;
  }
  if (t.arr) {
    const d = t.decl ? ` (${t.decl}) ` : ' ';
    return `${t.arr.elem}${d}[${t.arr.dim}]`;
  }
  return t.s;
}

export const BUILTIN: Record<string, string> = {
  v: 'void',
  w: 'wchar_t',
  b: 'bool',
  c: 'char',
  a: 'signed char',
  h: 'unsigned char',
  s: 'short',
  t: 'unsigned short',
  i: 'int',
  j: 'unsigned int',
  l: 'long',
  m: 'unsigned long',
  x: 'long long',
  y: 'unsigned long long',
  n: '__int128',
  o: 'unsigned __int128',
  f: 'float',
  d: 'double',
  e: 'long double',
  g: '__float128',
  z: '...',
};
export const BUILTIN_D: Record<string, string> = {
  d: 'decimal64',
  e: 'decimal128',
  f: 'decimal32',
  h: 'half',
  i: 'char32_t',
  s: 'char16_t',
  u: 'char8_t',
  a: 'auto',
  c: 'decltype(auto)',
  n: 'decltype(nullptr)',
};

export const OPERATORS: Record<string, [string, number]> = {
  nw: ['new', 1],
  na: ['new[]', 1],
  dl: ['delete', 1],
  da: ['delete[]', 1],
  ps: ['+', 1],
  ng: ['-', 1],
  ad: ['&', 1],
  de: ['*', 1],
  co: ['~', 1],
  pl: ['+', 2],
  mi: ['-', 2],
  ml: ['*', 2],
  dv: ['/', 2],
  rm: ['%', 2],
  an: ['&', 2],
  or: ['|', 2],
  eo: ['^', 2],
  aS: ['=', 2],
  pL: ['+=', 2],
  mI: ['-=', 2],
  mL: ['*=', 2],
  dV: ['/=', 2],
  rM: ['%=', 2],
  aN: ['&=', 2],
  oR: ['|=', 2],
  eO: ['^=', 2],
  ls: ['<<', 2],
  rs: ['>>', 2],
  lS: ['<<=', 2],
  rS: ['>>=', 2],
  eq: ['==', 2],
  ne: ['!=', 2],
  lt: ['<', 2],
  gt: ['>', 2],
  le: ['<=', 2],
  ge: ['>=', 2],
  ss: ['<=>', 2],
  nt: ['!', 1],
  aa: ['&&', 2],
  oo: ['||', 2],
  pp: ['++', 1],
  mm: ['--', 1],
  cm: [',', 2],
  pm: ['->*', 2],
  pt: ['->', 2],
  cl: ['()', 2],
  ix: ['[]', 2],
  qu: ['?', 3],
  st: ['sizeof ', 1],
  sz: ['sizeof ', 1],
  at: ['alignof ', 1],
  az: ['alignof ', 1],
  aw: ['co_await', 1],
};

export const STD_SUBS: Record<string, string> = {
  St: 'std',
  Sa: 'std::allocator',
  Sb: 'std::basic_string',
  Ss: 'std::string',
  Si: 'std::istream',
  So: 'std::ostream',
  Sd: 'std::iostream',
};
export const STD_SUBS_FULL: Record<string, string> = {
  Ss: 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >',
  Si: 'std::basic_istream<char, std::char_traits<char> >',
  So: 'std::basic_ostream<char, std::char_traits<char> >',
  Sd: 'std::basic_iostream<char, std::char_traits<char> >',
};

/** Thrown for anything that is not a name we can print; demangle() catches it and returns the input. */
export class Fail extends Error {}
export const FAIL = new Fail('demangle');

export interface NameResult {
  s: string;
  /** The name ends in template args (so a function encoding has a return type). */
  template: boolean;
  /** Last unqualified component was a ctor/dtor or conversion operator. */
  ctorDtor: boolean;
  /** cv/ref qualifiers of a nested member function name. */
  quals: string;
}

export function withArgs(name: string, args: Ty[]): string {
  return (name.endsWith('<') ? name + ' ' : name) + tmplText(args);
}

export function tmplText(args: Ty[]): string {
  const inner = args
    .map(render)
    .filter((x) => x !== '')
    .join(', ');
  return `<${inner}${inner.endsWith('>') ? ' ' : ''}>`;
}

export function baseName(enclosing: string): string {
  // The class name for a ctor/dtor: last component without template args.
  let s = enclosing;
  if (s.endsWith('>')) {
    let depth = 0;
    for (let i = s.length - 1; i >= 0; i--) {
      if (s[i] === '>') depth++;
      else if (s[i] === '<') {
        depth--;
        if (depth === 0) {
          s = s.slice(0, i);
          break;
        }
      }
    }
  }
  const i = s.lastIndexOf('::');
  return i >= 0 ? s.slice(i + 2) : s;
}
