/** Evaluates scalar expression trees: exactly where possible (rationals), in doubles otherwise. */

import type { Node } from './ast.js';
import { Budget } from '../budget.js';
import * as N from './num.js';
import type { Num } from './num.js';

export class NotScalar extends Error {}

/** How a percent sign is read: 10% = 0.1 ('fraction', Math-Verify) or 10% = 10 ('strip', MATH/NeMo). */
export type PercentPolicy = 'fraction' | 'strip';

export interface EvalEnv {
  vars: Map<string, number> | null; // null: free symbols are an error
  percent: PercentPolicy;
  budget: Budget;
}

const ONE = N.rat(1n);

function fnum(f: (x: number) => number, a: Num): Num {
  return N.flt(f(N.toFloat(a)));
}

/** The numeric value of a scalar tree; throws NotScalar for sets, relations or unknown symbols. */
export function evaluate(n: Node, env: EvalEnv): Num {
  env.budget.tick();
  switch (n.k) {
    case 'num': {
      const v = N.parseDecimal(n.s);
      if (!v) throw new NotScalar(`bad number ${n.s}`);
      return n.pct && env.percent === 'fraction' ? N.div(v, N.rat(100n)) : v;
    }
    case 'const':
      if (n.name === 'pi') return N.flt(Math.PI);
      if (n.name === 'e') return N.flt(Math.E);
      return N.flt(Infinity);
    case 'sym': {
      const v = env.vars?.get(n.name);
      if (v === undefined) throw new NotScalar(`free symbol ${n.name}`);
      return N.flt(v);
    }
    case 'add': {
      let acc = N.rat(0n);
      for (const a of n.args) acc = N.add(acc, evaluate(a, env));
      return acc;
    }
    case 'mul': {
      let acc = ONE;
      for (const a of n.args) acc = N.mul(acc, evaluate(a, env));
      return acc;
    }
    case 'neg':
      return N.neg(evaluate(n.a, env));
    case 'div':
      return N.div(evaluate(n.a, env), evaluate(n.b, env));
    case 'pow': {
      const b = evaluate(n.b, env);
      const a = evaluate(n.a, env);
      return N.pow(a, b);
    }
    case 'pct': {
      const a = evaluate(n.a, env);
      return env.percent === 'fraction' ? N.div(a, N.rat(100n)) : a;
    }
    case 'fn':
      return evalFn(n.name, n.args, env);
    default:
      throw new NotScalar(`${n.k} is not a number`);
  }
}

function evalFn(name: string, args: Node[], env: EvalEnv): Num {
  const a = evaluate(args[0]!, env);
  switch (name) {
    case 'sqrt':
      return N.pow(a, N.rat(1n, 2n));
    case 'root': {
      const idx = evaluate(args[1]!, env);
      return N.pow(a, N.div(ONE, idx));
    }
    case 'abs':
      return a.q ? N.rat(a.n < 0n ? -a.n : a.n, a.d) : N.flt(Math.abs(a.v));
    case 'fact':
      return N.factorial(a);
    case 'floor':
      return a.q ? N.rat(floorDiv(a.n, a.d)) : N.flt(Math.floor(a.v));
    case 'ceil':
      return a.q ? N.rat(-floorDiv(-a.n, a.d)) : N.flt(Math.ceil(a.v));
    case 'binom': {
      const k = evaluate(args[1]!, env);
      if (a.q && k.q && a.d === 1n && k.d === 1n && k.n >= 0n && k.n <= 10000n) {
        let r = ONE;
        for (let i = 0n; i < k.n; i++) r = N.div(N.mul(r, N.rat(a.n - i)), N.rat(i + 1n));
        return r;
      }
      return N.flt(NaN);
    }
    case 'sin': return fnum(Math.sin, a);
    case 'cos': return fnum(Math.cos, a);
    case 'tan': return fnum(Math.tan, a);
    case 'sec': return fnum((x) => 1 / Math.cos(x), a);
    case 'csc': return fnum((x) => 1 / Math.sin(x), a);
    case 'cot': return fnum((x) => 1 / Math.tan(x), a);
    case 'arcsin': return fnum(Math.asin, a);
    case 'arccos': return fnum(Math.acos, a);
    case 'arctan': return fnum(Math.atan, a);
    case 'arcsec': return fnum((x) => Math.acos(1 / x), a);
    case 'arccsc': return fnum((x) => Math.asin(1 / x), a);
    case 'arccot': return fnum((x) => Math.atan(1 / x), a);
    case 'sinh': return fnum(Math.sinh, a);
    case 'cosh': return fnum(Math.cosh, a);
    case 'tanh': return fnum(Math.tanh, a);
    case 'ln': return fnum(Math.log, a);
    case 'log': return fnum(Math.log, a); // natural log, as sympy reads \log
    case 'log10': return fnum(Math.log10, a);
    case 'logb': {
      const b = evaluate(args[1]!, env);
      return N.flt(Math.log(N.toFloat(a)) / Math.log(N.toFloat(b)));
    }
    case 'exp': return fnum(Math.exp, a);
    default:
      throw new NotScalar(`unknown function ${name}`);
  }
}

function floorDiv(n: bigint, d: bigint): bigint {
  const q = n / d;
  return n % d !== 0n && (n < 0n) !== (d < 0n) ? q - 1n : q;
}

/** The free symbols of a tree (names), in first-seen order. */
export function freeSymbols(n: Node, out: Set<string> = new Set()): Set<string> {
  switch (n.k) {
    case 'sym':
      out.add(n.name);
      break;
    case 'num':
    case 'const':
    case 'str':
      break;
    case 'add':
    case 'mul':
    case 'union':
      n.args.forEach((a) => freeSymbols(a, out));
      break;
    case 'fn':
    case 'rel':
      n.args.forEach((a) => freeSymbols(a, out));
      break;
    case 'neg':
    case 'pct':
      freeSymbols(n.a, out);
      break;
    case 'div':
    case 'pow':
      freeSymbols(n.a, out);
      freeSymbols(n.b, out);
      break;
    case 'pm':
      if (n.a) freeSymbols(n.a, out);
      freeSymbols(n.b, out);
      break;
    case 'tuple':
    case 'set':
      n.items.forEach((a) => freeSymbols(a, out));
      break;
    case 'interval':
      freeSymbols(n.lo, out);
      freeSymbols(n.hi, out);
      break;
    case 'in':
      freeSymbols(n.x, out);
      freeSymbols(n.s, out);
      break;
    case 'matrix':
      n.rows.forEach((r) => r.forEach((a) => freeSymbols(a, out)));
      break;
  }
  return out;
}
