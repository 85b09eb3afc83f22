/**
 * A hand-written Itanium C++ ABI demangler covering what shows up in profiles: nested names,
 * templates (with template-parameter references), std:: abbreviations and substitutions, operators,
 * constructors/destructors, cv/ref qualifiers, pointers, references, function and array types,
 * pointers to members, local names (lambdas, anonymous namespaces), special names (vtables, thunks,
 * guard variables) and clone suffixes (".cold", ".isra.0"). Output follows GNU c++filt. Anything it
 * cannot parse comes back unchanged; it never throws.
 */

interface Ty {
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

function render(t: Ty): string {
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

const BUILTIN: Record<string, string> = {
  v: 'void', w: 'wchar_t', b: 'bool', c: 'char', a: 'signed char', h: 'unsigned char', s: 'short',
  t: 'unsigned short', i: 'int', j: 'unsigned int', l: 'long', m: 'unsigned long', x: 'long long',
  y: 'unsigned long long', n: '__int128', o: 'unsigned __int128', f: 'float', d: 'double',
  e: 'long double', g: '__float128', z: '...',
};
const BUILTIN_D: Record<string, string> = {
  d: 'decimal64', e: 'decimal128', f: 'decimal32', h: 'half', i: 'char32_t', s: 'char16_t',
  u: 'char8_t', a: 'auto', c: 'decltype(auto)', n: 'decltype(nullptr)',
};

const OPERATORS: Record<string, [string, number]> = {
  nw: ['new', 1], na: ['new[]', 1], dl: ['delete', 1], da: ['delete[]', 1], ps: ['+', 1], ng: ['-', 1],
  ad: ['&', 1], de: ['*', 1], co: ['~', 1], pl: ['+', 2], mi: ['-', 2], ml: ['*', 2], dv: ['/', 2],
  rm: ['%', 2], an: ['&', 2], or: ['|', 2], eo: ['^', 2], aS: ['=', 2], pL: ['+=', 2], mI: ['-=', 2],
  mL: ['*=', 2], dV: ['/=', 2], rM: ['%=', 2], aN: ['&=', 2], oR: ['|=', 2], eO: ['^=', 2],
  ls: ['<<', 2], rs: ['>>', 2], lS: ['<<=', 2], rS: ['>>=', 2], eq: ['==', 2], ne: ['!=', 2],
  lt: ['<', 2], gt: ['>', 2], le: ['<=', 2], ge: ['>=', 2], ss: ['<=>', 2], nt: ['!', 1],
  aa: ['&&', 2], oo: ['||', 2], pp: ['++', 1], mm: ['--', 1], cm: [',', 2], pm: ['->*', 2],
  pt: ['->', 2], cl: ['()', 2], ix: ['[]', 2], qu: ['?', 3], st: ['sizeof ', 1], sz: ['sizeof ', 1],
  at: ['alignof ', 1], az: ['alignof ', 1], aw: ['co_await', 1],
};

const STD_SUBS: Record<string, string> = {
  St: 'std',
  Sa: 'std::allocator',
  Sb: 'std::basic_string',
  Ss: 'std::string',
  Si: 'std::istream',
  So: 'std::ostream',
  Sd: 'std::iostream',
};
const STD_SUBS_FULL: Record<string, string> = {
  Ss: 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >',
  Si: 'std::basic_istream<char, std::char_traits<char> >',
  So: 'std::basic_ostream<char, std::char_traits<char> >',
  Sd: 'std::basic_iostream<char, std::char_traits<char> >',
};

class Fail extends Error {}
const FAIL = new Fail('demangle');

interface NameResult {
  s: string;
  /** The name ends in template args (so a function encoding has a return type). */
  template: boolean;
  /** Last unqualified component was a ctor/dtor or conversion operator. */
  ctorDtor: boolean;
  /** cv/ref qualifiers of a nested member function name. */
  quals: string;
}

class Parser {
  pos = 0;
  subs: Ty[] = [];
  /** -1: normal; -2: probing a pack expansion for its length; >= 0: expanding element i. */
  packIndex = -1;
  packLen = -1;
  lastEncName = '';
  tparams: Ty[] = [];
  lastArgs: Ty[] = [];
  depth = 0;
  constructor(readonly m: string) {}

  peek(o = 0): string {
    return this.m[this.pos + o] ?? '';
  }
  eat(s: string): boolean {
    if (this.m.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }
  expect(s: string): void {
    if (!this.eat(s)) throw FAIL;
  }
  guard(): void {
    if (++this.depth > 256) throw FAIL;
  }

  number(): number {
    let neg = false;
    if (this.eat('n')) neg = true;
    const start = this.pos;
    while (/[0-9]/.test(this.peek())) this.pos++;
    if (this.pos === start) throw FAIL;
    const v = parseInt(this.m.slice(start, this.pos), 10);
    return neg ? -v : v;
  }

  seqId(): number {
    // <seq-id> is base 36 (0-9A-Z) followed by '_'; empty means 0, "X_" means X+1.
    if (this.eat('_')) return 0;
    let v = 0;
    const start = this.pos;
    while (/[0-9A-Z]/.test(this.peek())) {
      v = v * 36 + parseInt(this.peek(), 36);
      this.pos++;
    }
    if (this.pos === start) throw FAIL;
    this.expect('_');
    return v + 1;
  }

  encoding(top: boolean, withReturn = true): string {
    this.guard();
    const c = this.peek();
    if (c === 'T' || (c === 'G' && /[VRT]/.test(this.peek(1)))) return this.specialName();
    const saveT = this.tparams;
    const name = this.name();
    if (name.template) this.tparams = this.lastArgs;
    this.lastEncName = name.s;
    if (this.pos >= this.m.length || this.peek() === 'E' || this.peek() === '.') {
      return name.s;
    }
    // bare-function-type
    let ret = '';
    if (name.template && !name.ctorDtor) {
      const r = render(this.type()) + ' ';
      if (withReturn) ret = r;
    }
    const params = this.paramList();
    const out = `${ret}${name.s}(${params})${name.quals}`;
    if (!top) this.tparams = saveT.length ? saveT : this.tparams;
    return out;
  }

  paramList(): string {
    const ps: string[] = [];
    while (this.pos < this.m.length && this.peek() !== 'E' && this.peek() !== '.') {
      const p = render(this.type());
      if (p !== '') ps.push(p);
    }
    if (ps.length === 1 && ps[0] === 'void') return '';
    return ps.join(', ');
  }

  specialName(): string {
    if (this.eat('GTt')) return `transaction clone for ${this.encoding(false)}`;
    if (this.eat('GTn')) return `non-transaction clone for ${this.encoding(false)}`;
    if (this.eat('TV')) return `vtable for ${render(this.type())}`;
    if (this.eat('TT')) return `VTT for ${render(this.type())}`;
    if (this.eat('TI')) return `typeinfo for ${render(this.type())}`;
    if (this.eat('TS')) return `typeinfo name for ${render(this.type())}`;
    if (this.eat('Th')) {
      this.number();
      this.expect('_');
      return `non-virtual thunk to ${this.encoding(false)}`;
    }
    if (this.eat('Tv')) {
      this.number();
      this.expect('_');
      this.number();
      this.expect('_');
      return `virtual thunk to ${this.encoding(false)}`;
    }
    if (this.eat('Tc')) {
      for (let i = 0; i < 2; i++) {
        if (this.eat('h')) {
          this.number();
          this.expect('_');
        } else {
          this.expect('v');
          this.number();
          this.expect('_');
          this.number();
          this.expect('_');
        }
      }
      return `covariant return thunk to ${this.encoding(false)}`;
    }
    if (this.eat('TH')) return `TLS init function for ${this.name().s}`;
    if (this.eat('TW')) return `TLS wrapper function for ${this.name().s}`;
    if (this.eat('GV')) return `guard variable for ${this.name().s}`;
    if (this.eat('GR')) {
      const n = this.name().s;
      if (this.peek() !== 'E' && this.pos < this.m.length) this.seqId();
      return `reference temporary #0 for ${n}`;
    }
    throw FAIL;
  }

  name(): NameResult {
    this.guard();
    const c = this.peek();
    if (c === 'N') return this.nestedName();
    if (c === 'Z') return this.localName();
    let s: string;
    let ctorDtor = false;
    let fromSub = false;
    if (this.peek() === 'S' && this.peek(1) === 't') {
      this.pos += 2;
      const u = this.unqualifiedName('std');
      s = `std::${u.s}`;
      ctorDtor = u.ctorDtor;
    } else if (c === 'S') {
      s = this.substitution(false);
      fromSub = true;
      if (this.peek() !== 'I') throw FAIL;
    } else {
      const u = this.unqualifiedName('');
      s = u.s;
      ctorDtor = u.ctorDtor;
    }
    if (this.peek() === 'I') {
      // An unscoped template name is a substitution candidate (a substitution already is one).
      if (!fromSub) this.subs.push({ s: s });
      const args = this.templateArgs();
      this.lastArgs = args;
      s = withArgs(s, args);
      return { s, template: true, ctorDtor, quals: '' };
    }
    return { s, template: false, ctorDtor, quals: '' };
  }

  localName(): NameResult {
    this.expect('Z');
    const enc = this.encoding(false, false);
    this.expect('E');
    if (this.eat('s')) {
      this.discriminator();
      return { s: `${enc}::string literal`, template: false, ctorDtor: false, quals: '' };
    }
    if (this.eat('d')) {
      if (this.peek() !== '_') this.number();
      this.expect('_');
    }
    const n = this.name();
    this.discriminator();
    return { s: `${enc}::${n.s}`, template: n.template, ctorDtor: n.ctorDtor, quals: n.quals };
  }

  discriminator(): void {
    if (this.eat('__')) {
      this.number();
      this.expect('_');
    } else if (this.eat('_')) {
      if (/[0-9]/.test(this.peek())) this.pos++;
    }
  }

  nestedName(): NameResult {
    this.expect('N');
    let quals = '';
    const cv = this.cvQuals();
    if (cv) quals += ' ' + cv;
    if (this.eat('R')) quals += ' &';
    else if (this.eat('O')) quals += ' &&';
    let prefix = '';
    let template = false;
    let ctorDtor = false;
    let last = '';
    let first = true;
    while (!this.eat('E')) {
      if (this.pos >= this.m.length) throw FAIL;
      this.guard();
      const c = this.peek();
      template = false;
      if (c === 'I') {
        if (first) throw FAIL;
        const args = this.templateArgs();
        this.lastArgs = args;
        prefix = withArgs(prefix, args);
        template = true;
        if (this.peek() !== 'E') this.subs.push({ s: prefix });
        continue;
      }
      if (c === 'S' && first) {
        if (this.peek(1) === 't') {
          this.pos += 2;
          prefix = 'std';
          first = false;
          continue;
        }
        prefix = this.substitution(false);
        first = false;
        continue;
      }
      if (c === 'T' && first) {
        prefix = render(this.templateParam());
        this.subs.push({ s: prefix });
        first = false;
        continue;
      }
      if (c === 'D' && (this.peek(1) === 't' || this.peek(1) === 'T') && first) {
        prefix = render(this.type());
        first = false;
        continue;
      }
      if (c === 'M') {
        this.pos++; // data-member-prefix (lambda in initializer)
        continue;
      }
      ctorDtor = false;
      const u = this.unqualifiedName(last || prefix);
      last = u.base;
      ctorDtor = u.ctorDtor;
      prefix = prefix ? `${prefix}::${u.s}` : u.s;
      first = false;
      if (this.peek() !== 'E') this.subs.push({ s: prefix });
    }
    return { s: prefix, template, ctorDtor, quals };
  }

  /** Returns the printed name and its "base" (class name for ctor/dtor of the next component). */
  unqualifiedName(enclosing: string): { s: string; base: string; ctorDtor: boolean } {
    this.guard();
    const c = this.peek();
    if (/[0-9]/.test(c)) {
      const s = this.sourceName();
      return { s: this.abiTags(s), base: s, ctorDtor: false };
    }
    if (c === 'C' && /[1-5I]/.test(this.peek(1))) {
      this.pos++;
      if (this.eat('I')) {
        this.pos++;
        this.type();
      } else this.pos++;
      const b = baseName(enclosing);
      return { s: this.abiTags(b), base: b, ctorDtor: true };
    }
    if (c === 'D' && /[0-5]/.test(this.peek(1))) {
      this.pos += 2;
      const b = baseName(enclosing);
      return { s: `~${b}`, base: b, ctorDtor: true };
    }
    if (c === 'U') {
      if (this.eat('Ut')) {
        const n = this.peek() === '_' ? 0 : this.number() + 1;
        this.expect('_');
        return { s: `{unnamed type#${n + 1}}`, base: '', ctorDtor: false };
      }
      if (this.eat('Ul')) {
        const ps = this.paramList();
        this.expect('E');
        const n = this.peek() === '_' ? 0 : this.number() + 1;
        this.expect('_');
        return { s: `{lambda(${ps})#${n + 1}}`, base: '', ctorDtor: false };
      }
      throw FAIL;
    }
    if (c === 'L') {
      this.pos++;
      return this.unqualifiedName(enclosing);
    }
    // operator
    if (this.eat('cv')) {
      const t = render(this.type());
      return { s: `operator ${t}`, base: '', ctorDtor: true };
    }
    if (this.eat('li')) {
      return { s: `operator"" ${this.sourceName()}`, base: '', ctorDtor: false };
    }
    if (c === 'v' && /[0-9]/.test(this.peek(1))) {
      this.pos += 2;
      return { s: `operator ${this.sourceName()}`, base: '', ctorDtor: false };
    }
    const op = OPERATORS[this.m.slice(this.pos, this.pos + 2)];
    if (op) {
      this.pos += 2;
      const sym = op[0];
      const s = /^[a-z]/.test(sym) ? `operator ${sym.trim()}` : `operator${sym}`;
      return { s: this.abiTags(s), base: '', ctorDtor: false };
    }
    throw FAIL;
  }

  abiTags(s: string): string {
    while (this.peek() === 'B') {
      this.pos++;
      s += `[abi:${this.sourceName()}]`;
    }
    return s;
  }

  sourceName(): string {
    const n = this.number();
    if (n <= 0 || this.pos + n > this.m.length) throw FAIL;
    const id = this.m.slice(this.pos, this.pos + n);
    this.pos += n;
    if (id.startsWith('_GLOBAL_') && /^_GLOBAL_[._$]N/.test(id)) return '(anonymous namespace)';
    return id;
  }

  substitution(asType: boolean): string {
    return render(this.substitutionTy(asType));
  }

  substitutionTy(asType: boolean): Ty {
    this.expect('S');
    const two = 'S' + this.peek();
    if (STD_SUBS[two]) {
      this.pos++;
      if (two === 'St') return { s: 'std' };
      const full = STD_SUBS_FULL[two];
      // GNU c++filt prints the full expansion ("verbose"), e.g. std::basic_string<char, …>.
      void asType;
      return { s: full ?? STD_SUBS[two] };
    }
    const id = this.seqId();
    const t = this.subs[id];
    if (t === undefined) throw FAIL;
    return t;
  }

  templateArgs(): Ty[] {
    this.expect('I');
    const args: Ty[] = [];
    while (!this.eat('E')) {
      if (this.pos >= this.m.length) throw FAIL;
      args.push(this.templateArg());
    }
    return args;
  }

  templateArg(): Ty {
    this.guard();
    const c = this.peek();
    if (c === 'L') return { s: this.exprPrimary() };
    if (c === 'X') {
      this.pos++;
      const e = this.expression();
      this.expect('E');
      return { s: e };
    }
    if (c === 'J') {
      this.pos++;
      const a: Ty[] = [];
      while (!this.eat('E')) {
        if (this.pos >= this.m.length) throw FAIL;
        a.push(this.templateArg());
      }
      return { s: a.map(render).join(', '), pack: a };
    }
    return this.type();
  }

  exprPrimary(): string {
    this.expect('L');
    if (this.eat('_Z')) {
      const saveT = this.tparams;
      this.encoding(false);
      this.tparams = saveT;
      this.expect('E');
      return this.lastEncName;
    }
    const t = this.type();
    const ts = render(t);
    let neg = false;
    if (this.eat('n')) neg = true;
    const start = this.pos;
    while (this.pos < this.m.length && this.peek() !== 'E') this.pos++;
    const lit = this.m.slice(start, this.pos);
    this.expect('E');
    const v = (neg ? '-' : '') + lit;
    if (ts === 'bool') return lit === '0' ? 'false' : 'true';
    if (ts === 'int') return v;
    if (ts === 'unsigned int') return `${v}u`;
    if (ts === 'long') return `${v}l`;
    if (ts === 'unsigned long') return `${v}ul`;
    if (ts === 'long long') return `${v}ll`;
    if (ts === 'unsigned long long') return `${v}ull`;
    return `(${ts})${v}`;
  }

  expression(): string {
    this.guard();
    const c = this.peek();
    if (c === 'L') return this.exprPrimary();
    if (c === 'T') return render(this.templateParam());
    if (this.eat('fp')) {
      this.cvQuals();
      if (this.peek() !== '_') this.number();
      this.expect('_');
      return '{parm#1}';
    }
    if (this.eat('sr')) {
      const t = render(this.type());
      const u = this.unqualifiedName('');
      let s = `${t}::${u.s}`;
      if (this.peek() === 'I') s = withArgs(s, this.templateArgs());
      return s;
    }
    const code = this.m.slice(this.pos, this.pos + 2);
    const op = OPERATORS[code];
    if (op) {
      this.pos += 2;
      if (op[1] === 1) {
        const primary = this.peek() === 'L';
        const e = this.expression();
        return primary && code === 'ad' ? `&${e}` : `${op[0]}(${e})`;
      }
      if (op[1] === 2) {
        const a = this.expression();
        const b = this.expression();
        return `(${a})${op[0]}(${b})`;
      }
      const a = this.expression();
      const b = this.expression();
      const d = this.expression();
      return `(${a})?(${b}):(${d})`;
    }
    return render(this.type());
  }

  templateParam(): Ty {
    this.expect('T');
    const id = this.seqId();
    const t = this.tparams[id];
    if (t === undefined) throw FAIL;
    if (t.pack && this.packIndex !== -1) {
      if (this.packIndex === -2) {
        this.packLen = t.pack.length;
        return t.pack[0] ?? { s: '' };
      }
      return t.pack[this.packIndex] ?? { s: '' };
    }
    return t;
  }

  cvQuals(): string {
    const q: string[] = [];
    if (this.eat('r')) q.push('restrict');
    if (this.eat('V')) q.push('volatile');
    if (this.eat('K')) q.push('const');
    return q.reverse().join(' ');
  }

  type(): Ty {
    this.guard();
    const c = this.peek();
    if (BUILTIN[c]) {
      this.pos++;
      return { s: BUILTIN[c] };
    }
    if (c === 'u') {
      this.pos++;
      const s = this.sourceName();
      this.subs.push({ s: s });
      return { s };
    }
    if (c === 'D' && BUILTIN_D[this.peek(1)]) {
      this.pos += 2;
      return { s: BUILTIN_D[this.m[this.pos - 1]] };
    }
    if (c === 'r' || c === 'V' || c === 'K') {
      const q = this.cvQuals();
      const t = this.type();
      let out: Ty;
      if (t.fn) out = { ...t, fn: { ...t.fn, quals: `${t.fn.quals} ${q}` } };
      else if (t.decl !== undefined) out = { ...t, decl: `${t.decl} ${q}` };
      else out = { s: t.s.endsWith(` ${q}`) ? t.s : `${t.s} ${q}` };
      this.subs.push(out);
      return out;
    }
    if (c === 'P' || c === 'R' || c === 'O') {
      this.pos++;
      const op = c === 'P' ? '*' : c === 'R' ? '&' : '&&';
      const t = this.type();
      let out: Ty;
      if (c !== 'P' && t.ref) {
        // Reference collapsing: & & → &, && & → &, & && → &, && && → &&.
        out = op === '&' && t.ref === '&&' ? { ...t, s: t.s.slice(0, -1), ref: '&' } : t;
        if (out.fn || out.arr) out = { ...out, decl: op === '&' && t.ref === '&&' ? (out.decl ?? '').replace(/^&&/, '&') : out.decl };
      } else if (t.fn || t.arr) out = { ...t, decl: (t.decl ?? '') === '' ? op : `${op}${t.decl}`, ref: c === 'P' ? undefined : (op as '&' | '&&') };
      else out = { s: `${t.s}${op}`, ref: c === 'P' ? undefined : (op as '&' | '&&') };
      // "T*" printed after qualifiers without a space, as c++filt does: "char const*".
      this.subs.push(out);
      return out;
    }
    if (c === 'F') {
      this.pos++;
      this.eat('Y');
      const ret = render(this.type());
      const ps: string[] = [];
      while (!this.eat('E')) {
        if (this.pos >= this.m.length) throw FAIL;
        if (this.eat('R') || this.eat('O')) {
          if (this.peek() === 'E') continue;
          this.pos--;
        }
        ps.push(render(this.type()));
      }
      const params = ps.length === 1 && ps[0] === 'void' ? '' : ps.join(', ');
      const out: Ty = { s: '', fn: { ret, params, quals: '' } };
      this.subs.push(out);
      return out;
    }
    if (c === 'A') {
      this.pos++;
      let dim = '';
      if (/[0-9]/.test(this.peek())) dim = String(this.number());
      else if (this.peek() !== '_') dim = this.expression();
      this.expect('_');
      const elem = render(this.type());
      const out: Ty = { s: '', arr: { elem, dim } };
      this.subs.push(out);
      return out;
    }
    if (c === 'M') {
      this.pos++;
      const cls = render(this.type());
      const mem = this.type();
      let out: Ty;
      if (mem.fn) out = { ...mem, decl: `${cls}::*${mem.decl ?? ''}` };
      else out = { s: `${render(mem)} ${cls}::*` };
      this.subs.push(out);
      return out;
    }
    if (c === 'T') {
      const t = this.templateParam();
      this.subs.push({ s: t.s });
      if (this.peek() === 'I') {
        const args = this.templateArgs();
        const s = t.s + tmplText(args);
        this.subs.push({ s: s });
        return { s };
      }
      return t;
    }
    if (c === 'D' && this.peek(1) === 'p') {
      this.pos += 2;
      const start = this.pos;
      const saveIdx = this.packIndex;
      const saveLen = this.packLen;
      this.packIndex = -2;
      this.packLen = -1;
      const first = this.type();
      const end = this.pos;
      const nsubs = this.subs.length;
      const len = this.packLen;
      let out: Ty;
      if (len < 0) out = { s: `${render(first)}...` };
      else {
        const parts: string[] = [];
        for (let i = 0; i < len; i++) {
          this.pos = start;
          this.packIndex = i;
          parts.push(render(this.type()));
        }
        this.pos = end;
        this.subs.length = nsubs;
        out = { s: parts.join(', ') };
      }
      this.packIndex = saveIdx;
      this.packLen = saveLen;
      return out;
    }
    if (c === 'D' && (this.peek(1) === 't' || this.peek(1) === 'T')) {
      this.pos += 2;
      const e = this.expression();
      this.expect('E');
      const s = `decltype (${e})`;
      this.subs.push({ s: s });
      return { s };
    }
    if (c === 'S' && this.peek(1) !== 't') {
      const t = this.substitutionTy(true);
      if (this.peek() === 'I') {
        const s = withArgs(render(t), this.templateArgs());
        this.subs.push({ s });
        return { s };
      }
      return t;
    }
    if (c === 'N' || c === 'Z' || c === 'S' || /[0-9]/.test(c)) {
      const n = this.name();
      this.subs.push({ s: n.s });
      return { s: n.s };
    }
    throw FAIL;
  }
}

function withArgs(name: string, args: Ty[]): string {
  return (name.endsWith('<') ? name + ' ' : name) + tmplText(args);
}

function tmplText(args: Ty[]): string {
  const inner = args.map(render).filter((x) => x !== '').join(', ');
  return `<${inner}${inner.endsWith('>') ? ' ' : ''}>`;
}

function baseName(enclosing: string): string {
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

const cache = new Map<string, string>();

/** Demangles an Itanium C++ name; returns the input unchanged when it is not one we can parse. */
export function demangle(name: string): string {
  if (!name.startsWith('_Z') || name.length > 4096) return name;
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  let out = name;
  try {
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
    out = s;
  } catch {
    out = name;
  }
  if (cache.size > 100_000) cache.clear();
  cache.set(name, out);
  return out;
}
