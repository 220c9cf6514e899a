/**
 * Evaluation metrics over verified responses: accuracy, the unbiased pass@k estimator of
 * Chen et al. 2021 ("Evaluating Large Language Models Trained on Code", eq. 1) and a
 * per-source breakdown. Pure functions; the eval stage and the report both call them.
 */
import { VrdataError } from '../util/errors.js';

/**
 * Unbiased pass@k for one question with n samples of which c are correct:
 * 1 - C(n-c, k) / C(n, k), computed as -expm1(sum_{i=n-c+1}^{n} log1p(-k/i)) so that
 * neither huge binomials nor 1 - (a number close to 1) lose precision. Requires 1 <= k <= n.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k) && n >= 1 && c >= 0 && c <= n && k >= 1)) {
    throw new VrdataError('eval', `pass@k needs integers n >= 1, 0 <= c <= n, k >= 1; got n=${n}, c=${c}, k=${k}`);
  }
  if (k > n) throw new VrdataError('eval', `pass@${k} needs at least ${k} samples per question, got ${n}: sample more or lower k`);
  if (c === 0) return 0; // not -expm1(0), which is -0
  if (n - c < k) return 1;
  let logMiss = 0;
  for (let i = n - c + 1; i <= n; i++) logMiss += Math.log1p(-k / i);
  return -Math.expm1(logMiss);
}

/** Fraction of true values; NaN for an empty list. */
export function accuracy(correct: readonly boolean[]): number {
  if (correct.length === 0) return Number.NaN;
  let c = 0;
  for (const v of correct) if (v) c++;
  return c / correct.length;
}

/** One verified response, as the eval table stores it. */
export interface EvalOutcome {
  sample_id: string;
  source: string;
  correct: boolean;
}

/** The metrics of a group of questions. */
export interface EvalSummary {
  questions: number;
  /** Responses over all questions. */
  samples: number;
  /** Mean over questions of (correct / samples): pass@1 with n samples, each question counted once. */
  accuracy: number;
  /** Standard error of `accuracy` over questions (0 with one question). */
  stderr: number;
  /** pass@k by k; null where some question has fewer than k samples. */
  passAtK: Record<number, number | null>;
  /** Fewest samples any question has (a k above it gives null). */
  minSamples: number;
}

export interface EvalReport {
  overall: EvalSummary;
  /** By `source`, sorted by name. */
  bySource: Record<string, EvalSummary>;
}

interface Tally {
  n: number;
  c: number;
}

function summarizeTallies(tallies: readonly Tally[], ks: readonly number[]): EvalSummary {
  const fractions = tallies.map((t) => t.c / t.n);
  const q = tallies.length;
  const mean = q === 0 ? Number.NaN : fractions.reduce((a, b) => a + b, 0) / q;
  const variance = q > 1 ? fractions.reduce((a, f) => a + (f - mean) ** 2, 0) / (q - 1) : 0;
  const minSamples = q === 0 ? 0 : Math.min(...tallies.map((t) => t.n));
  const passAt: Record<number, number | null> = {};
  for (const k of ks) {
    passAt[k] = q === 0 || k > minSamples ? null : tallies.reduce((a, t) => a + passAtK(t.n, t.c, k), 0) / q;
  }
  return {
    questions: q,
    samples: tallies.reduce((a, t) => a + t.n, 0),
    accuracy: mean,
    stderr: Math.sqrt(variance / Math.max(q, 1)),
    passAtK: passAt,
    minSamples,
  };
}

/**
 * Groups responses by question (sample_id within source) and summarizes all questions and
 * each source. A question's samples are all its rows; ks defaults to [1].
 */
export function summarizeEval(rows: Iterable<EvalOutcome>, options: { ks?: readonly number[] } = {}): EvalReport {
  const ks = options.ks ?? [1];
  for (const k of ks) if (!(Number.isInteger(k) && k >= 1)) throw new VrdataError('eval', `k must be a positive integer, got ${k}`, { exitCode: 2 });
  const bySource = new Map<string, Map<string, Tally>>();
  for (const r of rows) {
    let questions = bySource.get(r.source);
    if (!questions) bySource.set(r.source, (questions = new Map()));
    const t = questions.get(r.sample_id) ?? { n: 0, c: 0 };
    t.n++;
    if (r.correct) t.c++;
    questions.set(r.sample_id, t);
  }
  const sources = [...bySource.keys()].sort();
  const all: Tally[] = [];
  const out: Record<string, EvalSummary> = {};
  for (const s of sources) {
    const tallies = [...(bySource.get(s) as Map<string, Tally>).values()];
    all.push(...tallies);
    out[s] = summarizeTallies(tallies, ks);
  }
  return { overall: summarizeTallies(all, ks), bySource: out };
}
