/**
 * The math checker: extract the final answer from gold and prediction, then compare, under one of
 * three policies: 'mathverify' (Math-Verify 0.8 semantics, the default), 'nemo' (NeMo-Skills
 * math_equal: MCQ letter, literal compare, then Math-Verify on $-wrapped answers) and 'hendrycks'
 * (MATH's is_equiv string compare of the last \boxed{}).
 */

import { Budget, BudgetExceeded } from '../budget.js';
import type { Node } from './ast.js';
import { nodesEqual, type EqOptions } from './equal.js';
import { extractAnswers, type Extracted, type Target, type LatexTarget, EXPR_TARGET } from './extract.js';
import { DEFAULT_NORMALIZE, normalizeLatex } from './normalize.js';
import { parseMath, ParseError } from './parse.js';
import { hendrycksEquiv, lastBoxed } from './hendrycks.js';
import { extractChoice } from '../mc.js';
import type { PercentPolicy } from './evaluate.js';

export type MathPolicy = 'mathverify' | 'nemo' | 'hendrycks';

/** Per-check settings; every field has a default (see DEFAULT_MATH_CONFIG). */
export interface MathConfig {
  policy?: MathPolicy;
  /** What to look for: LaTeX environments / \boxed{}, plain numbers and expressions, or both. */
  matchTypes?: ('latex' | 'expr')[];
  /** Priority of \boxed{} among the extraction patterns: 0 first, 50 after "final answer is", -1 never. */
  boxedPriority?: number;
  /** Decimals compared when either side is a decimal literal. */
  floatRounding?: number;
  /** false: variable names do not matter. */
  strict?: boolean;
  /** Accept a predicted relation (-2 <= x <= 7) for a gold set ([-2, 7]); gold relations always match sets. */
  allowSetRelation?: boolean;
  /** 'fraction': 10% = 0.1 (Math-Verify); 'strip': 10% = 10 (MATH, NeMo's literal step). */
  percent?: PercentPolicy;
  /** 'ordered' (default) or 'unordered' comparison of tuples. */
  tuples?: 'ordered' | 'unordered';
  /** 'text': gold and pred are responses to extract from; 'sympy': both are sympy reprs (Rational(1, 3)). */
  input?: 'text' | 'sympy';
}

export const DEFAULT_MATH_CONFIG: Required<MathConfig> = {
  policy: 'mathverify',
  matchTypes: ['latex', 'expr'],
  boxedPriority: 0,
  floatRounding: 6,
  strict: true,
  allowSetRelation: false,
  percent: 'fraction',
  tuples: 'ordered',
  input: 'text',
};

export interface MathResult {
  correct: boolean;
  extracted: string | null;
  reason: string;
}

function targetsFor(c: Required<MathConfig>): Target[] {
  const latex: LatexTarget = { type: 'latex', boxedPriority: c.boxedPriority, tryWithoutAnchor: true, normalize: DEFAULT_NORMALIZE };
  return c.matchTypes.map((m) => (m === 'latex' ? latex : EXPR_TARGET));
}

function eqOptions(c: Required<MathConfig>, budget: Budget): EqOptions {
  return { floatRounding: c.floatRounding, strict: c.strict, allowSetRelation: c.allowSetRelation, percent: c.percent, tuples: c.tuples, budget };
}

/** Compares extracted candidates pairwise like Math-Verify's verify(): trees by value, fallback strings by text. */
function anyEqual(gold: Extracted[], pred: Extracted[], o: EqOptions): boolean {
  for (const g of gold)
    for (const p of pred) {
      if (g.node && p.node) {
        if (nodesEqual(g.node, p.node, o)) return true;
      } else if (!g.node && !p.node) {
        const a = g.text.trim();
        const b = p.text.trim();
        if (a.length > 0 && a === b) return true;
      }
    }
  return false;
}

function fromSympy(s: string, budget: Budget): Node {
  const latex = s
    .replace(/Rational\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)/g, '(\\frac{$1}{$2})')
    .replace(/Float\(\s*'?(-?[\d.eE+-]+)'?\s*(?:,\s*\d+)?\)/g, '$1')
    .replace(/Integer\(\s*(-?\d+)\s*\)/g, '$1')
    .replace(/\*\*/g, '^');
  return parseMath(latex, budget);
}

function mathVerifyCheck(gold: string, pred: string, c: Required<MathConfig>, budget: Budget): MathResult {
  const o = eqOptions(c, budget);
  if (c.input === 'sympy') {
    const g = fromSympy(gold, budget);
    const p = fromSympy(pred, budget);
    const ok = nodesEqual(g, p, o);
    return { correct: ok, extracted: pred, reason: ok ? 'equal' : 'not equal' };
  }
  const targets = targetsFor(c);
  const g = extractAnswers(gold, targets, budget);
  if (g.length === 0) return { correct: false, extracted: null, reason: 'no answer found in the reference' };
  const p = extractAnswers(pred, targets, budget);
  if (p.length === 0) return { correct: false, extracted: null, reason: 'no answer found in the response' };
  const extracted = p[0]!.text;
  const ok = anyEqual(g, p, o);
  const parsed = p[0]!.node !== null;
  return { correct: ok, extracted, reason: ok ? 'equal' : parsed ? 'not equal' : 'answer did not parse; text differs' };
}

const MCQ = 'ABCDEFGHIJ';

function nemoNormalize(s: string): string {
  const m = /^(\d+\.?\d*)(?:\\%|%)$/.exec(s);
  if (m) s = m[1]!;
  return s.replace(/[.\\]+$/, '');
}

function nemoCheck(gold: string, pred: string, c: Required<MathConfig>, budget: Budget): MathResult {
  const g0 = gold.trim();
  if (g0.length === 1 && MCQ.includes(g0)) {
    const letter = extractChoice(pred, MCQ);
    if (letter === g0) return { correct: true, extracted: letter, reason: 'same choice' };
  }
  const g = nemoNormalize(gold);
  const p = nemoNormalize(pred);
  const basic = { ...DEFAULT_NORMALIZE, units: false, malformedOperators: false, nits: false };
  const ng = normalizeLatex(g, basic);
  const np = normalizeLatex(p, basic);
  const literal = /^(?:[a-zA-Z ,]+|[0-9 ]+)$/;
  const same = ng.replace(/ /g, '') === np.replace(/ /g, '');
  if ((literal.test(ng) && literal.test(np)) || same) return { correct: same, extracted: np, reason: same ? 'literally equal' : 'literal answers differ' };
  const env = /\$[\s\S]*\$|\\\([\s\S]*\\\)|\\\[[\s\S]*\\\]|\\boxed\{/;
  const gw = env.test(g) ? g : `$${g}$`;
  const pw = env.test(p) ? p : `$${p}$`;
  return mathVerifyCheck(gw, pw, { ...c, matchTypes: ['latex'], boxedPriority: 50 }, budget);
}

function hendrycksCheck(gold: string, pred: string): MathResult {
  const g = lastBoxed(gold) ?? gold;
  const p = lastBoxed(pred) ?? pred;
  const ok = hendrycksEquiv(g, p);
  return { correct: ok, extracted: p, reason: ok ? 'equal after MATH normalisation' : 'strings differ after MATH normalisation' };
}

/** Checks one math answer within `budgetMs`; never throws for bad input, answers false with a reason. */
export function checkMath(gold: string, pred: string, config: MathConfig = {}, budgetMs = 2000): MathResult {
  const c: Required<MathConfig> = { ...DEFAULT_MATH_CONFIG, ...config };
  const budget = new Budget(budgetMs);
  try {
    if (c.policy === 'hendrycks') return hendrycksCheck(gold, pred);
    if (c.policy === 'nemo') return nemoCheck(gold, pred, c, budget);
    return mathVerifyCheck(gold, pred, c, budget);
  } catch (e) {
    if (e instanceof BudgetExceeded) return { correct: false, extracted: null, reason: `verify: ${e.message} (limit ${budgetMs} ms); answered false` };
    if (e instanceof ParseError) return { correct: false, extracted: null, reason: `could not parse: ${e.message}` };
    if (e instanceof RangeError) return { correct: false, extracted: null, reason: `too large or too deep: ${e.message}` };
    throw e;
  }
}
