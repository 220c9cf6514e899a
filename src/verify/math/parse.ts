/**
 * A LaTeX / plain-text math parser for final answers: numbers, fractions, radicals, powers,
 * functions, implicit multiplication, ±, percent, relations (chains), tuples, sets, intervals,
 * unions, matrices, \text{...}. Written by hand so it is fast and bounded: every loop ticks the
 * budget and nesting deeper than MAX_DEPTH is refused.
 */

import type { Node, RelOp } from './ast.js';
import { Budget, BudgetExceeded } from '../budget.js';

export const MAX_DEPTH = 120;

type Tok = { t: 'num' | 'cmd' | 'ch' | 'word'; v: string; at: number };

const SPACE_CMDS = new Set([',', ';', ':', '!', ' ', 'quad', 'qquad', 'enspace', 'thinspace', 'medspace', 'thickspace', 'displaystyle', 'textstyle', 'left', 'right', 'big', 'Big', 'bigg', 'Bigg', 'bigl', 'bigr', 'Bigl', 'Bigr', 'mathstrut', 'limits', 'nonumber', 'notag', 'hfill', 'cr']);

/** Splits LaTeX into tokens; `\\` and `&` are kept for matrices. */
export function tokenize(s: string, budget: Budget): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    budget.tick();
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '~') {
      i++;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && i + 1 < n && s[i + 1]! >= '0' && s[i + 1]! <= '9')) {
      let j = i;
      while (j < n && s[j]! >= '0' && s[j]! <= '9') j++;
      if (j < n && s[j] === '.' && j + 1 < n && s[j + 1]! >= '0' && s[j + 1]! <= '9') {
        j++;
        while (j < n && s[j]! >= '0' && s[j]! <= '9') j++;
      } else if (j === n - 1 && s[j] === '.' && j > i) {
        j++; // a final "3." is the number 3.0, as Python reads it
      }
      out.push({ t: 'num', v: s.slice(i, j), at: i });
      i = j;
      continue;
    }
    if (c === '\\') {
      const d = s[i + 1];
      if (d === undefined) {
        i++;
        continue;
      }
      if (/[a-zA-Z]/.test(d)) {
        let j = i + 1;
        while (j < n && /[a-zA-Z]/.test(s[j]!)) j++;
        let name = s.slice(i + 1, j);
        // \quadx (a missing space after a spacing command) reads as \quad x.
        const sp = /^(qquad|quad)(?=[a-zA-Z])/.exec(name);
        if (sp) {
          j = i + 1 + sp[1]!.length;
          name = sp[1]!;
        }
        if (!SPACE_CMDS.has(name)) out.push({ t: 'cmd', v: name, at: i });
        i = j;
        continue;
      }
      if (d === '\\') out.push({ t: 'ch', v: '\\\\', at: i });
      else if (!SPACE_CMDS.has(d)) out.push({ t: 'cmd', v: d, at: i });
      i += 2;
      continue;
    }
    if (c === '<' || c === '>' || c === '!') {
      if (s[i + 1] === '=') {
        out.push({ t: 'ch', v: c + '=', at: i });
        i += 2;
        continue;
      }
    }
    if (c === '≤' || c === '≥' || c === '≠' || c === '≈' || c === '±' || c === '∞' || c === 'π' || c === '×' || c === '÷' || c === '√' || c === '·' || c === '∪') {
      const map: Record<string, Tok> = {
        '≤': { t: 'ch', v: '<=', at: 0 }, '≥': { t: 'ch', v: '>=', at: 0 }, '≠': { t: 'ch', v: '!=', at: 0 }, '≈': { t: 'cmd', v: 'approx', at: 0 },
        '±': { t: 'cmd', v: 'pm', at: 0 }, '∞': { t: 'cmd', v: 'infty', at: 0 }, 'π': { t: 'cmd', v: 'pi', at: 0 }, '×': { t: 'ch', v: '*', at: 0 },
        '÷': { t: 'ch', v: '/', at: 0 }, '√': { t: 'cmd', v: 'sqrt', at: 0 }, '·': { t: 'ch', v: '*', at: 0 }, '∪': { t: 'cmd', v: 'cup', at: 0 },
      };
      out.push({ ...map[c]!, at: i });
      i++;
      continue;
    }
    out.push({ t: 'ch', v: c, at: i });
    i++;
  }
  return out;
}

const FUNCS = new Set(['sin', 'cos', 'tan', 'sec', 'csc', 'cot', 'arcsin', 'arccos', 'arctan', 'sinh', 'cosh', 'tanh', 'log', 'ln', 'lg', 'exp', 'det', 'arcsec', 'arccsc', 'arccot']);
const GREEK = new Set(['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta', 'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi', 'chi', 'psi', 'omega', 'Gamma', 'Delta', 'Theta', 'Lambda', 'Xi', 'Pi', 'Sigma', 'Phi', 'Psi', 'Omega', 'ell']);
const TEXT_CMDS = new Set(['text', 'textrm', 'textbf', 'textit', 'textnormal', 'mathrm', 'mathit', 'mathbf', 'mbox', 'textsf', 'texttt', 'mathsf', 'mathtt', 'operatorname', 'hbox']);
const WRAP_CMDS = new Set(['boldsymbol', 'bm', 'vec', 'overline', 'hat', 'bar', 'tilde', 'widehat', 'overrightarrow', 'mathcal', 'mathbb', 'mathfrak', 'underline', 'boxed', 'fbox', 'mathscr', 'pmb', 'dot', 'ddot', 'overleftrightarrow', 'check', 'breve', 'acute', 'grave']);
const REL: Record<string, RelOp> = { '=': '=', '<': '<', '>': '>', '<=': '<=', '>=': '>=', '!=': '!=', le: '<=', leq: '<=', leqslant: '<=', ge: '>=', geq: '>=', geqslant: '>=', lt: '<', gt: '>', ne: '!=', neq: '!=', approx: '~', equiv: '=', doteq: '=', sim: '~', simeq: '~', cong: '=' };

export class ParseError extends Error {}

class Parser {
  private p = 0;
  private depth = 0;
  private absDepth = 0;
  constructor(private readonly toks: Tok[], private readonly budget: Budget, private readonly src: string) {}

  private peek(o = 0): Tok | undefined {
    return this.toks[this.p + o];
  }
  private isCh(v: string, o = 0): boolean {
    const t = this.toks[this.p + o];
    return t !== undefined && t.t === 'ch' && t.v === v;
  }
  private isCmd(v: string, o = 0): boolean {
    const t = this.toks[this.p + o];
    return t !== undefined && t.t === 'cmd' && t.v === v;
  }
  private expectCh(v: string): void {
    if (!this.isCh(v)) throw new ParseError(`expected '${v}' at token ${this.p}`);
    this.p++;
  }
  private enter(): void {
    this.budget.tick();
    if (++this.depth > MAX_DEPTH) throw new BudgetExceeded(`nesting deeper than ${MAX_DEPTH}`);
  }
  private leave(): void {
    this.depth--;
  }

  parseAll(): Node {
    const n = this.parseList(() => this.p >= this.toks.length, true);
    if (this.p < this.toks.length) throw new ParseError(`unexpected '${this.toks[this.p]!.v}'`);
    return n;
  }

  /** Items separated by ',' (and groups by ';' at the top level). */
  private parseList(atEnd: () => boolean, top: boolean): Node {
    this.enter();
    const groups: Node[][] = [[]];
    let sawSemicolon = false;
    while (!atEnd()) {
      this.budget.tick();
      if (this.isCh(',')) {
        this.p++;
        continue;
      }
      if (this.isCh(';')) {
        this.p++;
        sawSemicolon = true;
        groups.push([]);
        continue;
      }
      const before = this.p;
      groups[groups.length - 1]!.push(this.parseRelation());
      if (this.p === before) throw new ParseError(`unexpected '${this.peek()?.v}'`);
      if (!atEnd() && !this.isCh(',') && !this.isCh(';')) throw new ParseError(`unexpected '${this.peek()?.v}'`);
    }
    this.leave();
    const nonEmpty = groups.filter((g) => g.length > 0);
    if (!top || !sawSemicolon) {
      const items = nonEmpty.flat();
      if (items.length === 0) throw new ParseError('empty');
      if (items.length === 1 && !sawSemicolon) return items[0]!;
      return { k: 'set', items, braces: false };
    }
    const items = nonEmpty.map((g): Node => (g.length === 1 ? g[0]! : { k: 'tuple', items: g, paren: false }));
    return items.length === 1 ? items[0]! : { k: 'set', items, braces: false };
  }

  private relOp(): RelOp | null {
    const t = this.peek();
    if (!t) return null;
    if (t.t === 'ch' && REL[t.v]) return REL[t.v]!;
    if (t.t === 'cmd' && REL[t.v]) return REL[t.v]!;
    return null;
  }

  private parseRelation(): Node {
    this.enter();
    const first = this.parseSetExpr();
    if (this.isCmd('in')) {
      this.p++;
      const s = this.parseSetExpr();
      this.leave();
      return { k: 'in', x: first, s };
    }
    const args: Node[] = [first];
    const ops: RelOp[] = [];
    for (let op = this.relOp(); op !== null; op = this.relOp()) {
      this.p++;
      ops.push(op);
      args.push(this.parseSetExpr());
    }
    this.leave();
    return ops.length === 0 ? first : { k: 'rel', ops, args };
  }

  private parseSetExpr(): Node {
    this.enter();
    let a = this.parseAdd();
    const parts: Node[] = [a];
    while (this.isCmd('cup') || this.isCh('U') && this.peek(1) !== undefined && (this.isCh('(', 1) || this.isCh('[', 1))) {
      this.p++;
      parts.push(this.parseAdd());
    }
    if (parts.length > 1) a = { k: 'union', args: parts };
    this.leave();
    return a;
  }

  private parseAdd(): Node {
    this.enter();
    const terms: Node[] = [];
    let first: Node;
    if (this.isCh('-')) {
      this.p++;
      first = { k: 'neg', a: this.parseMul() };
    } else if (this.isCh('+')) {
      this.p++;
      first = this.parseMul();
    } else if (this.isCmd('pm') || this.isCmd('mp')) {
      const minusFirst = this.peek()!.v === 'mp';
      this.p++;
      first = { k: 'pm', a: null, b: this.parseMul(), minusFirst };
    } else first = this.parseMul();
    terms.push(first);
    let pm: Node | null = null;
    for (;;) {
      this.budget.tick();
      if (this.isCh('+')) {
        this.p++;
        terms.push(this.parseMul());
      } else if (this.isCh('-')) {
        this.p++;
        terms.push({ k: 'neg', a: this.parseMul() });
      } else if (this.isCmd('pm') || this.isCmd('mp')) {
        const minusFirst = this.peek()!.v === 'mp';
        this.p++;
        const b = this.parseMul();
        const a: Node = terms.length === 1 ? terms[0]! : { k: 'add', args: terms.splice(0) };
        terms.length = 0;
        pm = { k: 'pm', a, b, minusFirst };
        terms.push(pm);
      } else break;
    }
    this.leave();
    return terms.length === 1 ? terms[0]! : { k: 'add', args: terms };
  }

  private startsPrimary(): boolean {
    const t = this.peek();
    if (!t) return false;
    if (t.t === 'num') return true;
    if (t.t === 'ch') {
      if (/^[a-zA-Z]$/.test(t.v)) return true;
      if (t.v === '(' || t.v === '{') return true;
      if (t.v === '|') return this.absDepth === 0;
      return false;
    }
    if (t.t === 'cmd') {
      const v = t.v;
      if (REL[v] || v === 'cup' || v === 'cap' || v === 'in' || v === 'pm' || v === 'mp' || v === 'cdot' || v === 'times' || v === 'div' || v === '%' || v === 'circ') return false;
      if (v === 'end' || v === '}' || v === 'rfloor' || v === 'rceil' || v === 'rangle' || v === '|' || v === 'setminus' || v === 'to' || v === 'rightarrow' || v === 'implies' || v === 'Rightarrow') return false;
      if (v === '{') return true;
      return /^[a-zA-Z]+$/.test(v);
    }
    return false;
  }

  private parseMul(): Node {
    this.enter();
    const factors: Node[] = [this.parseUnary()];
    this.mixedNumber(factors);
    for (;;) {
      this.budget.tick();
      if (this.isCh('*') || this.isCmd('cdot') || this.isCmd('times') || this.isCh('×')) {
        this.p++;
        factors.push(this.parseUnary());
      } else if (this.isCh('/') || this.isCmd('div') || this.isCh(':')) {
        this.p++;
        const b = this.parseUnary();
        const a: Node = factors.length === 1 ? factors[0]! : { k: 'mul', args: factors.splice(0) };
        factors.length = 0;
        factors.push({ k: 'div', a, b });
      } else if (this.startsPrimary()) {
        factors.push(this.parsePow());
      } else break;
    }
    this.leave();
    return factors.length === 1 ? factors[0]! : { k: 'mul', args: factors };
  }

  /** 918\frac{1}{2} is the mixed number 918 + 1/2 (an integer directly followed by a numeric fraction). */
  private mixedNumber(factors: Node[]): void {
    const f = factors[0]!;
    const int = f.k === 'num' ? f : f.k === 'neg' && f.a.k === 'num' ? f.a : null;
    if (!int || !/^\d+$/.test(int.s) || !(this.isCmd('frac') || this.isCmd('dfrac') || this.isCmd('tfrac'))) return;
    const save = this.p;
    this.p++;
    try {
      const a = this.group();
      const b = this.group();
      if (a.k === 'num' && b.k === 'num' && /^\d+$/.test(a.s) && /^\d+$/.test(b.s)) {
        const mixed: Node = { k: 'add', args: [int, { k: 'div', a, b }] };
        factors[0] = f.k === 'neg' ? { k: 'neg', a: mixed } : mixed;
        return;
      }
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
    }
    this.p = save;
  }

  private parseUnary(): Node {
    if (this.isCh('-')) {
      this.p++;
      this.enter();
      const a = this.parseUnary();
      this.leave();
      return { k: 'neg', a };
    }
    if (this.isCh('+')) {
      this.p++;
      return this.parseUnary();
    }
    return this.parsePow();
  }

  /** A base with postfix !, ', %, degrees and a (right-associative) exponent. */
  private parsePow(): Node {
    this.enter();
    let base = this.parsePrimary();
    base = this.parsePostfix(base);
    if (this.isCh('^')) {
      this.p++;
      if (this.isCmd('circ')) {
        this.p++;
        this.leave();
        return this.parsePostfix(base);
      }
      if (this.isCh('{') && this.isCmd('circ', 1) && this.isCh('}', 2)) {
        this.p += 3;
        this.leave();
        return this.parsePostfix(base);
      }
      if (this.isCmd('prime')) {
        this.p++;
        this.leave();
        return base.k === 'sym' ? { k: 'sym', name: base.name + "'" } : base;
      }
      const exp = this.parseScript(true);
      base = { k: 'pow', a: base, b: exp };
      base = this.parsePostfix(base);
    }
    this.leave();
    return base;
  }

  private parsePostfix(base: Node): Node {
    for (;;) {
      if (this.isCh('!')) {
        this.p++;
        base = { k: 'fn', name: 'fact', args: [base] };
      } else if (this.isCmd('%') || this.isCh('%')) {
        this.p++;
        base = { k: 'pct', a: base };
      } else if (this.isCh("'") && base.k === 'sym') {
        this.p++;
        base = { k: 'sym', name: base.name + "'" };
      } else if (this.isCmd('circ') || this.isCmd('degree')) {
        this.p++;
      } else return base;
    }
  }

  /** A superscript or one-token argument: {group}, a single digit/letter, or a command atom. */
  private parseScript(allowSigned: boolean): Node {
    if (this.isCh('{')) {
      this.p++;
      const n = this.parseList(() => this.isCh('}') || this.p >= this.toks.length, false);
      this.expectCh('}');
      return n;
    }
    const t = this.peek();
    if (!t) throw new ParseError('missing exponent');
    if (t.t === 'num') {
      this.p++;
      // LaTeX takes one character: x^23 is x^2 * 3; the rest is pushed back as a new number.
      if (t.v.length > 1) {
        this.toks.splice(this.p, 0, { t: 'num', v: t.v.slice(1), at: t.at + 1 });
        return { k: 'num', s: t.v[0]! };
      }
      return { k: 'num', s: t.v };
    }
    if (allowSigned && t.t === 'ch' && t.v === '-') {
      this.p++;
      return { k: 'neg', a: this.parseScript(false) };
    }
    return this.parsePrimary();
  }

  private readRawGroup(): string {
    // Raw source text of a {...} group (for \text and environment names), balancing braces.
    if (!this.isCh('{')) {
      const t = this.peek();
      if (!t) return '';
      this.p++;
      return t.v;
    }
    const start = this.toks[this.p]!.at + 1;
    this.p++;
    let depth = 1;
    while (this.p < this.toks.length) {
      this.budget.tick();
      const t = this.toks[this.p++]!;
      if (t.t === 'ch' && t.v === '{') depth++;
      if (t.t === 'ch' && t.v === '}') {
        depth--;
        if (depth === 0) return this.src.slice(start, t.at).trim();
      }
    }
    throw new ParseError('unbalanced braces');
  }

  private group(): Node {
    return this.parseScript(false);
  }

  private parseParenLike(open: string): Node {
    // Tuples, intervals and plain groups share the bracket syntax.
    this.p++;
    const close = (): boolean => this.isCh(')') || this.isCh(']') || this.p >= this.toks.length;
    const items: Node[] = [];
    while (!close()) {
      this.budget.tick();
      if (this.isCh(',') || this.isCh(';')) {
        this.p++;
        continue;
      }
      const before = this.p;
      items.push(this.parseRelation());
      if (this.p === before) throw new ParseError(`unexpected '${this.peek()?.v}'`);
      if (!close() && !this.isCh(',') && !this.isCh(';')) throw new ParseError(`unexpected '${this.peek()?.v}'`);
    }
    const closer = this.peek();
    if (!closer) throw new ParseError('unclosed bracket');
    this.p++;
    const c = closer.v;
    if (items.length === 0) throw new ParseError('empty brackets');
    if (items.length === 2 && (open !== '(' || c !== ')')) {
      return { k: 'interval', lo: items[0]!, hi: items[1]!, lopen: open === '(', ropen: c === ')' };
    }
    if (items.length === 1) {
      if (open === '(' && c === ')') return items[0]!;
      if (open === '[' && c === ']') return items[0]!;
      throw new ParseError('mismatched brackets');
    }
    if (open !== '(' || c !== ')') throw new ParseError('mismatched brackets');
    return { k: 'tuple', items, paren: true };
  }

  private parseMatrix(env: string): Node {
    const rows: Node[][] = [[]];
    const endOfCell = (): boolean => this.isCh('&') || this.isCh('\\\\') || this.isCmd('end') || this.p >= this.toks.length;
    if (env === 'array' && this.isCh('{')) this.readRawGroup();
    for (;;) {
      this.budget.tick();
      if (this.p >= this.toks.length) throw new ParseError('unterminated matrix');
      if (this.isCmd('end')) {
        this.p++;
        this.readRawGroup();
        break;
      }
      if (this.isCh('&')) {
        this.p++;
        continue;
      }
      if (this.isCh('\\\\')) {
        this.p++;
        rows.push([]);
        continue;
      }
      if (this.isCmd('hline')) {
        this.p++;
        continue;
      }
      rows[rows.length - 1]!.push(this.parseList(endOfCell, false));
    }
    const clean = rows.filter((r) => r.length > 0);
    if (clean.length === 0) throw new ParseError('empty matrix');
    const w = clean[0]!.length;
    if (clean.some((r) => r.length !== w)) throw new ParseError('ragged matrix');
    return { k: 'matrix', rows: clean };
  }

  private parseFunctionArg(): Node {
    if (this.isCh('(')) {
      this.p++;
      const a = this.parseList(() => this.isCh(')') || this.p >= this.toks.length, false);
      this.expectCh(')');
      return a;
    }
    if (this.isCh('{')) return this.group();
    return this.parsePow();
  }

  private parsePrimary(): Node {
    this.enter();
    try {
      return this.parsePrimaryInner();
    } finally {
      this.leave();
    }
  }

  private parsePrimaryInner(): Node {
    const t = this.peek();
    if (!t) throw new ParseError('unexpected end');
    if (t.t === 'num') {
      this.p++;
      if (this.isCh('_')) {
        // A number in a base: 204_5 (kept whole, compared as written).
        this.p++;
        const b = this.parseScript(false);
        return { k: 'sym', name: `${t.v}_${b.k === 'num' ? b.s : '?'}` };
      }
      return { k: 'num', s: t.v };
    }
    if (t.t === 'ch') {
      const v = t.v;
      if (/^[a-zA-Z]$/.test(v)) {
        this.p++;
        let name = v;
        if (this.isCh('_')) {
          this.p++;
          const sub = this.parseScript(false);
          name = `${v}_${subName(sub)}`;
        }
        if (name === 'e') return { k: 'const', name: 'e' };
        return { k: 'sym', name };
      }
      if (v === '(' || v === '[') return this.parseParenLike(v);
      if (v === '{') {
        this.p++;
        const inner = this.parseList(() => this.isCh('}') || this.p >= this.toks.length, false);
        this.expectCh('}');
        return inner;
      }
      if (v === '|') {
        this.p++;
        this.absDepth++;
        const inner = this.parseAdd();
        this.absDepth--;
        this.expectCh('|');
        return { k: 'fn', name: 'abs', args: [inner] };
      }
      throw new ParseError(`unexpected '${v}'`);
    }
    // Commands.
    const c = t.v;
    this.p++;
    if (c === 'frac' || c === 'dfrac' || c === 'tfrac' || c === 'cfrac') {
      const a = this.group();
      const b = this.group();
      return { k: 'div', a, b };
    }
    if (c === 'binom' || c === 'dbinom' || c === 'tbinom') {
      const a = this.group();
      const b = this.group();
      return { k: 'fn', name: 'binom', args: [a, b] };
    }
    if (c === 'sqrt') {
      if (this.isCh('[')) {
        this.p++;
        const idx = this.parseList(() => this.isCh(']') || this.p >= this.toks.length, false);
        this.expectCh(']');
        return { k: 'fn', name: 'root', args: [this.group(), idx] };
      }
      return { k: 'fn', name: 'sqrt', args: [this.group()] };
    }
    if (FUNCS.has(c)) {
      let power: Node | null = null;
      let base: Node | null = null;
      for (let k = 0; k < 2; k++) {
        if (this.isCh('^')) {
          this.p++;
          power = this.parseScript(true);
        } else if (this.isCh('_')) {
          this.p++;
          base = this.parseScript(false);
        }
      }
      const arg = this.parseFunctionArg();
      let f: Node = c === 'log' && base ? { k: 'fn', name: 'logb', args: [arg, base] } : { k: 'fn', name: c === 'lg' ? 'log10' : c, args: [arg] };
      if (power) f = { k: 'pow', a: f, b: power };
      return f;
    }
    if (c === 'pi') return { k: 'const', name: 'pi' };
    if (c === 'infty' || c === 'infin') return { k: 'const', name: 'inf' };
    if (GREEK.has(c)) {
      let name = c;
      if (this.isCh('_')) {
        this.p++;
        name = `${c}_${subName(this.parseScript(false))}`;
      }
      return { k: 'sym', name };
    }
    if (c === '{') {
      const inner = this.parseList(() => this.isCmd('}') || this.p >= this.toks.length, false);
      if (!this.isCmd('}')) throw new ParseError('unclosed \\{');
      this.p++;
      const items = inner.k === 'set' && !inner.braces ? inner.items : [inner];
      return { k: 'set', items, braces: true };
    }
    if (c === 'emptyset' || c === 'varnothing') return { k: 'set', items: [], braces: true };
    if (c === 'lfloor' || c === 'lceil') {
      const inner = this.parseAdd();
      if (!this.isCmd(c === 'lfloor' ? 'rfloor' : 'rceil')) throw new ParseError(`missing close of \\${c}`);
      this.p++;
      return { k: 'fn', name: c === 'lfloor' ? 'floor' : 'ceil', args: [inner] };
    }
    if (c === 'langle') {
      const inner = this.parseList(() => this.isCmd('rangle') || this.p >= this.toks.length, false);
      if (!this.isCmd('rangle')) throw new ParseError('missing \\rangle');
      this.p++;
      return inner.k === 'set' && !inner.braces ? { k: 'tuple', items: inner.items, paren: true } : inner;
    }
    if (c === '|' || c === 'lvert' || c === 'vert') {
      this.absDepth++;
      const inner = this.parseAdd();
      this.absDepth--;
      if (!(this.isCmd('|') || this.isCmd('rvert') || this.isCmd('vert') || this.isCh('|'))) throw new ParseError('missing close of |');
      this.p++;
      return { k: 'fn', name: 'abs', args: [inner] };
    }
    if (TEXT_CMDS.has(c)) {
      const raw = this.readRawGroup();
      if (c === 'operatorname' && this.isCh('(')) return { k: 'fn', name: raw, args: [this.parseFunctionArg()] };
      const letter = /^\(?\s*([A-Za-z])\s*\)?$/.exec(raw);
      if (letter) return { k: 'sym', name: letter[1]!, text: true };
      if (/^-?\d+(\.\d+)?$/.test(raw)) return { k: 'num', s: raw };
      return { k: 'sym', name: raw.replace(/\s+/g, ' '), text: true };
    }
    if (WRAP_CMDS.has(c)) return this.group();
    if (c === 'begin') {
      const env = this.readRawGroup();
      if (/matrix|array/.test(env)) return this.parseMatrix(env.replace(/\*$/, ''));
      throw new ParseError(`unsupported environment ${env}`);
    }
    if (c === '$' || c === '%') throw new ParseError(`unexpected \\${c}`);
    if (/^[a-zA-Z]+$/.test(c)) return { k: 'sym', name: `\\${c}` };
    throw new ParseError(`unexpected \\${c}`);
  }
}

function subName(n: Node): string {
  switch (n.k) {
    case 'num':
      return n.s;
    case 'sym':
      return n.name;
    case 'mul':
      return n.args.map(subName).join('');
    default:
      return `{${n.k}}`;
  }
}

const COMMA_NUMBER = /^\s*-?\d{1,3}(,\d{3})+(\.\d+)?\s*$/;

/** Parses one normalised answer string; throws ParseError (or BudgetExceeded) when it cannot. */
export function parseMath(s: string, budget: Budget): Node {
  if (COMMA_NUMBER.test(s)) s = s.replace(/,/g, '');
  const toks = tokenize(s, budget);
  if (toks.length === 0) throw new ParseError('empty');
  return new Parser(toks, budget, s).parseAll();
}
