/**
 * Types (<type>: builtins, cv-qualifiers, pointers and references with reference collapsing,
 * function, array and pointer-to-member types, pack expansions, decltype), template arguments and
 * the expressions that appear in them. Parser is the whole grammar: NameParser plus these.
 */
import { BUILTIN, BUILTIN_D, FAIL, OPERATORS, render, tmplText, withArgs, type Ty } from './ast.js';
import { NameParser } from './names.js';

export class Parser extends NameParser {
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
    this.enter();
    return this.leave(this.templateArgBody());
  }
  private templateArgBody(): Ty {
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
    this.enter();
    return this.leave(this.expressionBody());
  }
  private expressionBody(): string {
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
        return this.copy(t.pack[0] ?? { s: '' });
      }
      return this.copy(t.pack[this.packIndex] ?? { s: '' });
    }
    return this.copy(t);
  }

  type(): Ty {
    this.enter();
    return this.leave(this.typeBody());
  }
  private typeBody(): Ty {
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
        if (out.fn || out.arr)
          out = {
            ...out,
            decl: op === '&' && t.ref === '&&' ? (out.decl ?? '').replace(/^&&/, '&') : out.decl,
          };
      } else if (t.fn || t.arr)
        out = {
          ...t,
          decl: (t.decl ?? '') === '' ? op : `${op}${t.decl}`,
          ref: c === 'P' ? undefined : (op as '&' | '&&'),
        };
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
