/**
 * The importance weights of DESIGN.md ("The weights (exactly)"), as pure functions over one
 * question's traces. No I/O here: the weigh stage feeds rows in, tests feed hand-written tables.
 *
 * Sums run in float64 over the float32 log-probs, so the result does not depend on list length
 * the way a float32 running sum would.
 */
import { VrdataError } from '../util/errors.js';

/** Acc: accuracy of pi_theta0's rollouts; GML: geometric mean of the reference answer's likelihood; L: naive likelihood. */
export type Estimator = 'Acc' | 'GML' | 'L';
export const ESTIMATORS: readonly Estimator[] = ['Acc', 'GML', 'L'];

/** The figures of one trace k of a question. */
export interface TraceFigures {
  k: number;
  /** log pi_theta0(z_t | R(x), z_<t) per token of the cut trace z. */
  lp: ArrayLike<number>;
  /** log q_phi(z_t | P(x, y'), z_<t) per token. */
  lq: ArrayLike<number>;
  /** log pi_theta0(a_t | R(x), z, a_<t) per token of the reference answer text a. */
  la: ArrayLike<number>;
  /** Mean correctness of the rollouts of trace k; null when the question has no verifier. */
  acc: number | null;
}

export interface WeighOptions {
  estimator: Estimator;
  /** Traces with L_k >= this are not eligible (28000 in the paper). */
  maxThinkTokens: number;
  /** false: the question has no verifier, so Acc falls back to GML. */
  hasVerifier: boolean;
}

/** One row of the weights table, before sample_id is attached. */
export interface TraceWeight {
  k: number;
  /** The estimator actually used (after the Acc->GML fallback). */
  estimator: Estimator;
  /** L_k = min(len lp, len lq). */
  thinkTokens: number;
  eligible: boolean;
  g: number;
  acc: number | null;
  meanLa: number;
  /** -Infinity when the estimator gives weight 0. */
  logRho: number;
  /** Normalised over the eligible traces with finite log rho; 0 elsewhere (all 0 when none is). */
  rho: number;
  /** The argmax of logRho over eligible traces with finite logRho, first in input order on ties. */
  selected: boolean;
  fallback: string | null;
}

/** Figures shared by every estimator: L_k, g_k, the summed log ratio, mean and sum of la. */
export function traceStats(t: Pick<TraceFigures, 'lp' | 'lq' | 'la'>): {
  thinkTokens: number;
  g: number;
  sumRatio: number;
  meanLa: number;
  sumLa: number;
} {
  const n = Math.min(t.lp.length, t.lq.length);
  let sumRatio = 0;
  for (let i = 0; i < n; i++) sumRatio += t.lp[i]! - t.lq[i]!;
  let sumLa = 0;
  for (let i = 0; i < t.la.length; i++) sumLa += t.la[i]!;
  return {
    thinkTokens: n,
    // An empty trace has no ratio to average; it is made ineligible below, g = 0 keeps the table finite.
    g: n === 0 ? 0 : sumRatio / n,
    sumRatio,
    // No answer tokens means no evidence for the answer: weight 0 rather than NaN.
    meanLa: t.la.length === 0 ? Number.NEGATIVE_INFINITY : sumLa / t.la.length,
    sumLa: t.la.length === 0 ? Number.NEGATIVE_INFINITY : sumLa,
  };
}

/** log(sum(exp(values))) without overflow; -Infinity for an empty list or all -Infinity. */
export function logSumExp(values: readonly number[]): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > max) max = v;
  if (max === Number.NEGATIVE_INFINITY) return max;
  if (max === Number.POSITIVE_INFINITY) return max;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/**
 * Weighs the K traces of one question. Traces come in k order; ties in log rho go to the first.
 * Throws when Acc is asked for with a verifier but a trace has no accuracy (its verdicts are missing).
 */
export function weighQuestion(traces: readonly TraceFigures[], options: WeighOptions): TraceWeight[] {
  let estimator = options.estimator;
  let fallback: string | null = null;
  if (estimator === 'Acc' && !options.hasVerifier) {
    estimator = 'GML';
    fallback = 'no verifier for this question: Acc falls back to GML';
  }
  const out: TraceWeight[] = traces.map((t) => {
    const s = traceStats(t);
    if (estimator === 'Acc' && t.acc === null) {
      throw new VrdataError('weigh', `trace k=${t.k} has no verdicts although its question has a verifier; run rollout and verify for it first`);
    }
    let logRho: number;
    if (estimator === 'Acc') logRho = t.acc! > 0 ? Math.log(t.acc!) + s.g : Number.NEGATIVE_INFINITY;
    else if (estimator === 'GML') logRho = s.meanLa + s.g;
    else logRho = s.sumLa + s.sumRatio;
    return {
      k: t.k,
      estimator,
      thinkTokens: s.thinkTokens,
      eligible: s.thinkTokens > 0 && s.thinkTokens < options.maxThinkTokens,
      g: s.g,
      acc: t.acc,
      meanLa: s.meanLa,
      logRho,
      rho: 0,
      selected: false,
      fallback,
    };
  });
  const pool = out.filter((w) => w.eligible && Number.isFinite(w.logRho));
  const lse = logSumExp(pool.map((w) => w.logRho));
  let best: TraceWeight | undefined;
  for (const w of pool) {
    w.rho = Math.exp(w.logRho - lse);
    if (best === undefined || w.logRho > best.logRho) best = w;
  }
  if (best) best.selected = true;
  return out;
}

/** Mean correctness of a trace's verdicts; null when there are none. */
export function accuracy(correct: readonly boolean[]): number | null {
  if (correct.length === 0) return null;
  let hits = 0;
  for (const c of correct) if (c) hits++;
  return hits / correct.length;
}
