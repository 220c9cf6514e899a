/**
 * Equivalence of two parsed answers, following Math-Verify's rules (gold first: the check is not
 * symmetric for assignments and set/relation conversion): numbers exactly or rounded when a side is
 * a decimal literal, expressions by identity testing at random points, relations up to a constant
 * factor, sets/tuples/intervals/unions/matrices element by element.
 */

import type { Node, RelOp } from './ast.js';
import { show } from './ast.js';
import { Budget } from '../budget.js';
import { evaluate, freeSymbols, NotScalar, type PercentPolicy } from './evaluate.js';
import * as N from './num.js';
import type { Num } from './num.js';

export interface EqOptions {
  /** Decimals both sides are rounded to when either is a decimal literal (Math-Verify float_rounding). */
  floatRounding: number;
  /** false: variable names do not matter (pred's variables are renamed to gold's). */
  strict: boolean;
  /** Also read a predicted relation as a set when gold is a set (Math-Verify allow_set_relation_comp). */
  allowSetRelation: boolean;
  percent: PercentPolicy;
  /** 'ordered': tuples compare in order (default); 'unordered': tuples compare as multisets. */
  tuples: 'ordered' | 'unordered';
  budget: Budget;
}

const POINTS = 7;
const REL_TOL = 1e-9;
const ID_TOL = 1e-7;

/** Deterministic sample points for identity testing; irrational-ish so cancellations are unlikely. */
function samplePoints(k: number): number[][] {
  const out: number[][] = [];
  let s = 0x9e3779b9;
  for (let j = 0; j < POINTS; j++) {
    const row: number[] = [];
    for (let i = 0; i < k; i++) {
      s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      row.push(0.31 + 2.4 * (s / 4294967296));
    }
    out.push(row);
  }
  return out;
}

// ---------- structure helpers ----------

function isDecimalLiteral(n: Node): boolean {
  if (n.k === 'neg') return isDecimalLiteral(n.a);
  if (n.k === 'pct') return isDecimalLiteral(n.a);
  return n.k === 'num' && n.s.includes('.');
}

function onlySymbols(n: Node): boolean {
  switch (n.k) {
    case 'sym':
      return true;
    case 'mul':
    case 'add':
      return n.args.every(onlySymbols);
    case 'div':
      return onlySymbols(n.a) && onlySymbols(n.b);
    case 'fn':
      return n.name === 'abs' && n.args.every(onlySymbols);
    case 'tuple':
      return n.items.every(onlySymbols);
    case 'pow':
      return onlySymbols(n.a) && n.b.k === 'neg' && n.b.a.k === 'num' && n.b.a.s === '1';
    default:
      return false;
  }
}

function isEquation(n: Node): boolean {
  return n.k === 'rel' && n.ops.every((o) => o === '=');
}
function isAssignment(n: Node): boolean {
  return isEquation(n) && onlySymbols((n as { args: Node[] }).args[0]!);
}
function isRelation(n: Node): boolean {
  return n.k === 'rel';
}
function isSetLike(n: Node): boolean {
  return n.k === 'set' || n.k === 'interval' || n.k === 'union' || n.k === 'tuple';
}
function isTrueSet(n: Node): boolean {
  // Sympy's Set: finite sets, intervals, unions; (a, b) reads as an open interval.
  return n.k === 'set' || n.k === 'interval' || n.k === 'union' || (n.k === 'tuple' && n.paren && n.items.length === 2);
}

/** x ≈ y: keep the exact side (the value before ≈, or the right side of an assignment). */
function dropApprox(n: Node): Node {
  if (n.k !== 'rel' || !n.ops.includes('~')) return n;
  const cut = n.ops.indexOf('~');
  if (cut > 0) return { k: 'rel', ops: n.ops.slice(0, cut), args: n.args.slice(0, cut + 1) };
  const lhs = n.args[0]!;
  return onlySymbols(lhs) ? n.args[1]! : lhs;
}

/** Expands ± into the set of its values (at most 16 combinations). */
function expandPm(n: Node, budget: Budget): Node[] {
  budget.tick();
  switch (n.k) {
    case 'pm': {
      const bs = expandPm(n.b, budget);
      const as = n.a ? expandPm(n.a, budget) : [null];
      const out: Node[] = [];
      for (const a of as)
        for (const b of bs) {
          const plus: Node = a ? { k: 'add', args: [a, b] } : b;
          const minus: Node = a ? { k: 'add', args: [a, { k: 'neg', a: b }] } : { k: 'neg', a: b };
          if (n.minusFirst) out.push(minus, plus);
          else out.push(plus, minus);
        }
      return out.slice(0, 16);
    }
    case 'add':
    case 'mul': {
      let combos: Node[][] = [[]];
      for (const a of n.args) {
        const vs = expandPm(a, budget);
        const next: Node[][] = [];
        for (const c of combos) for (const v of vs) next.push([...c, v]);
        combos = next.slice(0, 16);
      }
      return combos.map((args) => ({ k: n.k, args }) as Node);
    }
    case 'neg':
      return expandPm(n.a, budget).map((a) => ({ k: 'neg', a }) as Node);
    case 'div': {
      const out: Node[] = [];
      for (const a of expandPm(n.a, budget)) for (const b of expandPm(n.b, budget)) out.push({ k: 'div', a, b });
      return out.slice(0, 16);
    }
    default:
      return [n];
  }
}

function hasPm(n: Node): boolean {
  switch (n.k) {
    case 'pm':
      return true;
    case 'add':
    case 'mul':
      return n.args.some(hasPm);
    case 'neg':
      return hasPm(n.a);
    case 'div':
      return hasPm(n.a) || hasPm(n.b);
    default:
      return false;
  }
}

/** Canonical shape before comparing: ± expanded to sets, ≈ dropped, x ∈ S read as S, matrices multiplied out. */
export function prepare(n: Node, budget: Budget): Node {
  budget.tick();
  n = dropApprox(n);
  if (n.k === 'in') return prepare(n.s, budget);
  if (hasPm(n)) {
    const vs = expandPm(n, budget);
    return { k: 'set', items: vs, braces: false };
  }
  if (n.k === 'set') {
    const items: Node[] = [];
    for (const it of n.items) {
      const p = prepare(it, budget);
      if (p.k === 'set' && !p.braces && hasPmSource(it)) items.push(...p.items);
      else items.push(p);
    }
    return { k: 'set', items, braces: n.braces };
  }
  if (n.k === 'tuple') return { ...n, items: n.items.map((i) => prepare(i, budget)) };
  if (n.k === 'rel') return { ...n, args: n.args.map((a) => prepare(a, budget)) };
  if (n.k === 'matrix' || n.k === 'add' || n.k === 'mul') {
    const m = reduceMatrix(n);
    if (m) return m;
  }
  return n;
}

function hasPmSource(n: Node): boolean {
  return hasPm(n);
}

type Matrix = Node[][];

/** Multiplies/adds matrices in a sum or product; null when the tree is no matrix expression. */
function reduceMatrix(n: Node): Node | null {
  const m = toMatrix(n);
  return m ? { k: 'matrix', rows: m } : null;
}
function toMatrix(n: Node): Matrix | null {
  if (n.k === 'matrix') return n.rows;
  if (n.k === 'add') {
    const ms = n.args.map(toMatrix);
    if (ms.some((m) => m === null)) return null;
    const first = ms[0]!;
    if (ms.some((m) => m!.length !== first.length || m![0]!.length !== first[0]!.length)) return null;
    return first.map((row, i) => row.map((_, j): Node => ({ k: 'add', args: ms.map((m) => m![i]![j]!) })));
  }
  if (n.k === 'mul') {
    let acc: Matrix | null = null;
    let scalar: Node[] = [];
    for (const a of n.args) {
      const m = toMatrix(a);
      if (!m) {
        scalar.push(a);
        continue;
      }
      if (!acc) acc = m;
      else {
        if (acc[0]!.length !== m.length) return null;
        const A: Matrix = acc;
        acc = A.map((row) => m[0]!.map((_, j): Node => ({ k: 'add', args: row.map((x, k): Node => ({ k: 'mul', args: [x, m[k]![j]!] })) })));
      }
    }
    if (!acc) return null;
    if (scalar.length > 0) {
      const s = scalar;
      acc = acc.map((row) => row.map((x): Node => ({ k: 'mul', args: [...s, x] })));
      scalar = [];
    }
    return acc;
  }
  return null;
}

// ---------- the comparison ----------

/** Whether pred matches gold under the options; may throw BudgetExceeded. */
export function nodesEqual(gold: Node, pred: Node, o: EqOptions): boolean {
  gold = prepare(gold, o.budget);
  pred = prepare(pred, o.budget);
  if (!o.strict) pred = renameLike(pred, gold);
  return exprEq(gold, pred, o);
}

function renameLike(pred: Node, gold: Node): Node {
  const gv = [...freeSymbols(gold)].sort();
  const pv = [...freeSymbols(pred)].sort();
  if (gv.length !== pv.length) return pred;
  const map = new Map(pv.map((p, i) => [p, gv[i]!]));
  const walk = (n: Node): Node => {
    if (n.k === 'sym') return { ...n, name: map.get(n.name) ?? n.name };
    const c: Record<string, unknown> = { ...n };
    for (const [k, v] of Object.entries(n)) {
      if (Array.isArray(v)) c[k] = v.map((x) => (Array.isArray(x) ? x.map(walk) : typeof x === 'object' && x !== null ? walk(x as Node) : x));
      else if (typeof v === 'object' && v !== null) c[k] = walk(v as Node);
    }
    return c as Node;
  };
  return walk(pred);
}

function lastRhs(n: Node): Node {
  return n.k === 'rel' ? n.args[n.args.length - 1]! : n;
}
function collapseAssignment(n: Node): Node {
  if (n.k !== 'rel' || n.args.length <= 2) return n;
  return { k: 'rel', ops: ['='], args: [n.args[0]!, n.args[n.args.length - 1]!] };
}

function exprEq(gold: Node, pred: Node, o: EqOptions): boolean {
  o.budget.tick();
  const gAssign = isAssignment(gold);
  const pAssign = isAssignment(pred);
  const gEq = isEquation(gold);
  const pEq = isEquation(pred);
  if (gAssign) gold = collapseAssignment(gold);
  if (pAssign) pred = collapseAssignment(pred);
  if (pEq && !gEq) pred = lastRhs(pred);
  else if (gAssign && !pEq) gold = lastRhs(gold);

  if (show(gold) === show(pred)) return true;

  if (isRelation(gold) && isTrueSet(pred)) return relationMatchesSet(gold, pred, o);
  if (o.allowSetRelation && isRelation(pred) && isTrueSet(gold)) return relationMatchesSet(pred, gold, o);

  if (isRelation(gold) && isRelation(pred)) return relationsEq(gold as RelNode, pred as RelNode, o);
  if (isRelation(gold) || isRelation(pred)) return false;
  if (isSetLike(gold) || isSetLike(pred)) return setsEq(gold, pred, o);
  if (gold.k === 'matrix' || pred.k === 'matrix') {
    if (gold.k !== 'matrix' || pred.k !== 'matrix') return false;
    if (gold.rows.length !== pred.rows.length || gold.rows[0]!.length !== pred.rows[0]!.length) return false;
    return gold.rows.every((r, i) => r.every((x, j) => exprEq(x, pred.rows[i]![j]!, o)));
  }
  if (gold.k === 'sym' || pred.k === 'sym') return symbolsEq(gold, pred);
  if (gold.k === 'str' || pred.k === 'str') return false;
  return scalarEq(gold, pred, o);
}

function symbolsEq(g: Node, p: Node): boolean {
  const isE = (n: Node): boolean => n.k === 'const' && n.name === 'e';
  if ((g.k === 'sym' && g.name.toLowerCase() === 'e' && isE(p)) || (p.k === 'sym' && p.name.toLowerCase() === 'e' && isE(g))) return true;
  const concat = (n: Node): string | null => {
    if (n.k !== 'mul') return null;
    let s = '';
    for (const a of n.args) {
      if (a.k === 'sym') s += a.name;
      else if (isE(a)) s += 'e';
      else return null;
    }
    return s;
  };
  if (g.k === 'sym' && p.k === 'mul') {
    const c = concat(p);
    return c !== null && c.toLowerCase() === g.name.toLowerCase();
  }
  if (p.k === 'sym' && g.k === 'mul') {
    const c = concat(g);
    return c !== null && c.toLowerCase() === p.name.toLowerCase();
  }
  if (g.k === 'sym' && p.k === 'sym') {
    const gn = g.name.length > 1 ? g.name.toLowerCase() : g.name;
    const pn = p.name.length > 1 ? p.name.toLowerCase() : p.name;
    return gn === pn;
  }
  return false;
}

/** Evaluates a scalar at given variable values; null when not a finite real number. */
function valueAt(n: Node, vars: Map<string, number> | null, o: EqOptions): Num | null {
  try {
    const v = evaluate(n, { vars, percent: o.percent, budget: o.budget });
    if (!v.q && !Number.isFinite(v.v)) return null;
    return v;
  } catch (e) {
    if (e instanceof NotScalar) return null;
    throw e;
  }
}

function scalarEq(g: Node, p: Node, o: EqOptions): boolean {
  const syms = [...new Set([...freeSymbols(g), ...freeSymbols(p)])];
  if (syms.length === 0) {
    const a = valueAt(g, null, o);
    const b = valueAt(p, null, o);
    if (!a || !b) return infinityEq(g, p, o);
    if (isDecimalLiteral(g) || isDecimalLiteral(p)) {
      if (N.roundKey(a, o.floatRounding) === N.roundKey(b, o.floatRounding)) return true;
    }
    return N.numEq(a, b, REL_TOL);
  }
  return identityEq(g, p, syms, o);
}

function infinityEq(g: Node, p: Node, o: EqOptions): boolean {
  // ±∞ compare by sign; anything else that does not evaluate is unequal.
  const sign = (n: Node): number => {
    if (n.k === 'const' && n.name === 'inf') return 1;
    if (n.k === 'neg') return -sign(n.a);
    if (n.k === 'add' && n.args.length === 1) return sign(n.args[0]!);
    return 0;
  };
  void o;
  const a = sign(g);
  return a !== 0 && a === sign(p);
}

/** g ≡ p as functions: equal at POINTS random points (at least 3 where both are defined). */
function identityEq(g: Node, p: Node, syms: string[], o: EqOptions): boolean {
  let valid = 0;
  for (const pt of samplePoints(syms.length)) {
    const vars = new Map(syms.map((s, i) => [s, pt[i]!]));
    const a = valueAt(g, vars, o);
    const b = valueAt(p, vars, o);
    if (!a || !b) continue;
    const x = N.toFloat(a);
    const y = N.toFloat(b);
    if (Math.abs(x - y) > ID_TOL * Math.max(1, Math.abs(x), Math.abs(y))) return false;
    valid++;
  }
  return valid >= 3;
}

type RelNode = { k: 'rel'; ops: RelOp[]; args: Node[] };

/** a op b as (expr, op) with op in {'=', '!=', '<', '<='} meaning expr op 0. */
function normRel(a: Node, op: RelOp, b: Node): { e: Node; op: '=' | '!=' | '<' | '<=' } {
  const diff = (x: Node, y: Node): Node => ({ k: 'add', args: [x, { k: 'neg', a: y }] });
  switch (op) {
    case '<':
      return { e: diff(a, b), op: '<' };
    case '<=':
      return { e: diff(a, b), op: '<=' };
    case '>':
      return { e: diff(b, a), op: '<' };
    case '>=':
      return { e: diff(b, a), op: '<=' };
    case '!=':
      return { e: diff(a, b), op: '!=' };
    default:
      return { e: diff(a, b), op: '=' };
  }
}

/** e1 = k * e2 for a constant k (k > 0 when `positive`), tested at random points. */
function proportional(e1: Node, e2: Node, positive: boolean, o: EqOptions): boolean {
  const syms = [...new Set([...freeSymbols(e1), ...freeSymbols(e2)])];
  const pts = syms.length === 0 ? [[]] : samplePoints(syms.length);
  let k: number | null = null;
  let valid = 0;
  for (const pt of pts) {
    const vars = new Map(syms.map((s, i) => [s, pt[i]!]));
    const a = valueAt(e1, vars, o);
    const b = valueAt(e2, vars, o);
    if (!a || !b) continue;
    const x = N.toFloat(a);
    const y = N.toFloat(b);
    if (Math.abs(y) < 1e-12) {
      if (Math.abs(x) > 1e-9) return false;
      valid++;
      continue;
    }
    const r = x / y;
    if (k === null) k = r;
    else if (Math.abs(r - k) > ID_TOL * Math.max(1, Math.abs(k))) return false;
    valid++;
  }
  if (k === null) return valid > 0 && syms.length === 0;
  if (k === 0 || (positive && k < 0)) return false;
  return syms.length === 0 || valid >= 3;
}

function singleRelEq(ga: Node, gop: RelOp, gb: Node, pa: Node, pop: RelOp, pb: Node, o: EqOptions): boolean {
  const g = normRel(ga, gop, gb);
  const p = normRel(pa, pop, pb);
  if (g.op !== p.op) return false;
  return proportional(g.e, p.e, g.op === '<' || g.op === '<=', o);
}

function flipOp(op: RelOp): RelOp {
  return op === '<' ? '>' : op === '>' ? '<' : op === '<=' ? '>=' : op === '>=' ? '<=' : op;
}

function relationsEq(g: RelNode, p: RelNode, o: EqOptions): boolean {
  if (g.ops.length === 1 && p.ops.length === 1) return singleRelEq(g.args[0]!, g.ops[0]!, g.args[1]!, p.args[0]!, p.ops[0]!, p.args[1]!, o);
  if (g.ops.length === p.ops.length) {
    const pairwise = (pa: Node[], pops: RelOp[]): boolean =>
      g.ops.every((op, i) => singleRelEq(g.args[i]!, op, g.args[i + 1]!, pa[i]!, pops[i]!, pa[i + 1]!, o));
    if (pairwise(p.args, p.ops)) return true;
    if (pairwise([...p.args].reverse(), [...p.ops].reverse().map(flipOp))) return true;
  }
  const vars = new Set([...freeSymbols(g), ...freeSymbols(p)]);
  if (vars.size === 1 && !g.ops.includes('=') && !p.ops.includes('=')) return sameTruth(g, p, [...vars][0]!, [], o);
  return false;
}

// ---------- relations against sets (sampled membership) ----------

function relTrue(r: RelNode, v: string, x: number, o: EqOptions): boolean | null {
  const vars = new Map([[v, x]]);
  const vals: number[] = [];
  for (const a of r.args) {
    if (a.k === 'fn' && a.name === 'abs' && false) continue;
    const n = valueAt(a, vars, o);
    if (!n) return null;
    vals.push(N.toFloat(n));
  }
  const eps = 1e-9;
  return r.ops.every((op, i) => {
    const a = vals[i]!;
    const b = vals[i + 1]!;
    switch (op) {
      case '<': return a < b - eps;
      case '<=': return a <= b + eps;
      case '>': return a > b + eps;
      case '>=': return a >= b - eps;
      case '!=': return Math.abs(a - b) > eps;
      default: return Math.abs(a - b) <= eps;
    }
  });
}

function numOf(n: Node, o: EqOptions): number | null {
  if (n.k === 'const' && n.name === 'inf') return Infinity;
  if (n.k === 'neg' && n.a.k === 'const' && n.a.name === 'inf') return -Infinity;
  const v = valueAt(n, null, o);
  return v ? N.toFloat(v) : null;
}

function inSet(s: Node, x: number, o: EqOptions): boolean | null {
  const eps = 1e-9;
  switch (s.k) {
    case 'interval':
    case 'tuple': {
      const lo = numOf(s.k === 'interval' ? s.lo : s.items[0]!, o);
      const hi = numOf(s.k === 'interval' ? s.hi : s.items[1]!, o);
      if (lo === null || hi === null) return null;
      const lopen = s.k === 'interval' ? s.lopen : true;
      const ropen = s.k === 'interval' ? s.ropen : true;
      const okLo = lopen ? x > lo + eps : x >= lo - eps;
      const okHi = ropen ? x < hi - eps : x <= hi + eps;
      return okLo && okHi;
    }
    case 'union': {
      let any = false;
      for (const a of s.args) {
        const r = inSet(a, x, o);
        if (r === null) return null;
        any ||= r;
      }
      return any;
    }
    case 'set': {
      for (const it of s.items) {
        const v = numOf(it, o);
        if (v === null) return null;
        if (Math.abs(v - x) <= eps * Math.max(1, Math.abs(v))) return true;
      }
      return false;
    }
    default:
      return null;
  }
}

function setPoints(s: Node, o: EqOptions, out: number[]): void {
  if (s.k === 'interval') {
    for (const e of [s.lo, s.hi]) {
      const v = numOf(e, o);
      if (v !== null && Number.isFinite(v)) out.push(v);
    }
  } else if (s.k === 'tuple' || s.k === 'set') {
    for (const e of s.items) {
      const v = numOf(e, o);
      if (v !== null && Number.isFinite(v)) out.push(v);
    }
  } else if (s.k === 'union') s.args.forEach((a) => setPoints(a, o, out));
}

/** Two predicates of one variable agree at the critical points, just beside them and on a grid. */
function sameTruth(a: RelNode | Node, b: RelNode | Node, v: string, anchors: number[], o: EqOptions): boolean {
  const base = [...anchors];
  for (const n of [a, b]) if (n.k === 'rel') for (const arg of n.args) {
    const x = numOf(arg, o);
    if (x !== null && Number.isFinite(x)) base.push(x);
  }
  const pts = new Set<number>();
  for (const x of base) for (const d of [0, 1e-6, -1e-6, 0.37, -0.37]) {
    pts.add(x + d);
    pts.add(-x + d);
  }
  for (let g = -50; g <= 50; g += 0.73) pts.add(g);
  for (const g of [-1e4, -1e3, 1e3, 1e4, 0]) pts.add(g);
  const test = (n: Node, x: number): boolean | null => (n.k === 'rel' ? relTrue(n as RelNode, v, x, o) : inSet(n, x, o));
  let checked = 0;
  for (const x of pts) {
    o.budget.tick();
    const ta = test(a as Node, x);
    const tb = test(b as Node, x);
    if (ta === null || tb === null) continue;
    if (ta !== tb) return false;
    checked++;
  }
  return checked > 10;
}

function relationMatchesSet(r: Node, s: Node, o: EqOptions): boolean {
  // 0 < f(x) < 1 against (0, 1): a symbols-only term (f(x), |AB|) stands for one variable.
  if (r.k === 'rel' && freeSymbols(r).size > 1) {
    const terms = r.args.filter((a) => freeSymbols(a).size > 0);
    if (terms.length > 0 && terms.every((t) => onlySymbols(t) && show(t) === show(terms[0]!))) {
      const v: Node = { k: 'sym', name: '__v' };
      r = { ...r, args: r.args.map((a) => (freeSymbols(a).size > 0 ? v : a)) };
    }
  }
  const vars = freeSymbols(r);
  if (vars.size !== 1 || freeSymbols(s).size !== 0) return false;
  const anchors: number[] = [];
  setPoints(s, o, anchors);
  return sameTruth(r, s, [...vars][0]!, anchors, o);
}

// ---------- sets, tuples, intervals ----------

function asItems(n: Node): Node[] | null {
  if (n.k === 'set' || n.k === 'tuple') return n.items;
  return null;
}

function dedup(items: Node[], o: EqOptions): Node[] {
  const out: Node[] = [];
  for (const it of items) if (!out.some((x) => show(x) === show(it) || safeEq(x, it, o))) out.push(it);
  return out;
}

function safeEq(a: Node, b: Node, o: EqOptions): boolean {
  return exprEq(a, b, o);
}

/** A perfect matching between two equally long lists (backtracking, small lists; greedy past 9). */
function matchAll(g: Node[], p: Node[], o: EqOptions): boolean {
  if (g.length !== p.length) return false;
  const n = g.length;
  const cache = new Map<number, boolean>();
  const eq = (i: number, j: number): boolean => {
    const key = i * n + j;
    let v = cache.get(key);
    if (v === undefined) {
      v = exprEq(g[i]!, p[j]!, o);
      cache.set(key, v);
    }
    return v;
  };
  const used = new Array<boolean>(n).fill(false);
  if (n > 9) {
    for (let i = 0; i < n; i++) {
      const j = used.findIndex((u, j) => !u && eq(i, j));
      if (j < 0) return false;
      used[j] = true;
    }
    return true;
  }
  const go = (i: number): boolean => {
    if (i === n) return true;
    for (let j = 0; j < n; j++) {
      if (used[j] || !eq(i, j)) continue;
      used[j] = true;
      if (go(i + 1)) return true;
      used[j] = false;
    }
    return false;
  };
  return go(0);
}

function intervalEq(a: Node & { k: 'interval' }, b: Node & { k: 'interval' }, o: EqOptions): boolean {
  return a.lopen === b.lopen && a.ropen === b.ropen && exprEq(a.lo, b.lo, o) && exprEq(a.hi, b.hi, o);
}

function setsEq(gold: Node, pred: Node, o: EqOptions): boolean {
  const wrap = (n: Node): Node => (isSetLike(n) ? n : { k: 'set', items: [n], braces: true });
  const g = wrap(gold);
  const p = wrap(pred);
  if (g.k === 'interval' && p.k === 'interval') return intervalEq(g, p, o);
  if (g.k === 'union' || p.k === 'union') {
    const parts = (n: Node): Node[] => (n.k === 'union' ? n.args : [n]);
    const ga = parts(g);
    const pa = parts(p);
    if (ga.length !== pa.length) return false;
    return matchAll(ga, pa, o);
  }
  if (g.k === 'interval' && p.k === 'tuple' && g.lopen && g.ropen && p.items.length === 2) return exprEq(g.lo, p.items[0]!, o) && exprEq(g.hi, p.items[1]!, o);
  if (p.k === 'interval' && g.k === 'tuple' && p.lopen && p.ropen && g.items.length === 2) return exprEq(g.items[0]!, p.lo, o) && exprEq(g.items[1]!, p.hi, o);
  if (g.k === 'interval' || p.k === 'interval') return false;
  const gi = asItems(g)!;
  const pi = asItems(p)!;
  if (g.k === 'tuple' && p.k === 'tuple') {
    if (gi.length !== pi.length) return false;
    if (o.tuples === 'unordered') return matchAll(gi, pi, o);
    return gi.every((x, i) => exprEq(x, pi[i]!, o));
  }
  if (g.k === 'tuple') {
    // Gold tuple against a predicted set: in the order the prediction wrote it (as Math-Verify).
    const pd = dedup(pi, o);
    if (gi.length !== pd.length) return false;
    if (o.tuples === 'unordered') return matchAll(gi, pd, o);
    return gi.every((x, i) => exprEq(x, pd[i]!, o));
  }
  const gd = dedup(gi, o);
  const pd = p.k === 'set' ? dedup(pi, o) : pi;
  return matchAll(gd, pd, o);
}
