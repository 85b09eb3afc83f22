/**
 * Names: <encoding>, <name> (nested, local, unscoped), <unqualified-name> (source names, ctors and
 * dtors, operators, lambdas, unnamed types), special names (vtables, thunks, guard variables) and
 * <substitution>. Types, template arguments and expressions are in parser.ts.
 */
import {
  FAIL,
  OPERATORS,
  STD_SUBS,
  STD_SUBS_FULL,
  baseName,
  render,
  withArgs,
  type NameResult,
  type Ty,
} from './ast.js';
import { Cursor } from './cursor.js';

export abstract class NameParser extends Cursor {
  abstract type(): Ty;
  abstract templateArgs(): Ty[];
  abstract templateParam(): Ty;
  abstract expression(): string;

  encoding(top: boolean, withReturn = true): string {
    this.enter();
    return this.leave(this.encodingBody(top, withReturn));
  }
  private encodingBody(top: boolean, withReturn = true): string {
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
    this.enter();
    return this.leave(this.nameBody());
  }
  private nameBody(): NameResult {
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
    return this.copy(t);
  }
}
