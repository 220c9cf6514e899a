/** Handmade report data for the render tests: every plot has data, or (empty) none has. */
import type { ReportData } from '../../src/report/types.js';
import { summarizeEval, type EvalOutcome } from '../../src/eval/metrics.js';

function outcomes(pattern: Record<string, string>, source = 'arith-2step'): EvalOutcome[] {
  return Object.entries(pattern).flatMap(([id, bits]) => [...bits].map((b) => ({ sample_id: id, source: id.endsWith('h') ? 'arith-4step' : source, correct: b === '1' })));
}

/** A full run: weights, traces, evals before/after, timings. Values are arbitrary but fixed. */
export function fullData(): ReportData {
  const rho = Array.from({ length: 60 }, (_, i) => ((i * 37) % 60) / 59);
  return {
    run: 'demo <&> "quoted"',
    runDir: '/tmp/runs/demo',
    generatedAt: '2026-01-01T00:00:00.000Z',
    tables: [
      { table: 'samples', stage: 'prepare', partsDone: 1, parts: 1, rows: 30, seconds: 0.4, wallSeconds: 0.4, startedAt: '2026-01-01T00:00:00.000Z' },
      { table: 'traces', stage: 'sample', partsDone: 2, parts: 2, rows: 120, seconds: 61.5, wallSeconds: 33 },
      { table: 'weights', stage: 'weigh', partsDone: 1, parts: 1, rows: 120, seconds: 0.2 },
      { table: 'eval_before', stage: 'eval', partsDone: 1, parts: 1, rows: 40, seconds: 12 },
    ],
    weights: {
      rho,
      acc: Array.from({ length: 120 }, (_, i) => (i % 5) / 4),
      eligible: 60,
      ineligible: 60,
      selected: 30,
      questions: 30,
      estimators: { Acc: 120 },
    },
    traceTokens: Array.from({ length: 120 }, (_, i) => 40 + ((i * 13) % 90)),
    selectedVsOriginal: { selected: Array.from({ length: 30 }, (_, i) => 100 + i * 3), original: Array.from({ length: 30 }, (_, i) => 120 + i * 2) },
    evals: [
      { table: 'eval_before', report: summarizeEval(outcomes({ a: '1100', b: '0000', ch: '1000', dh: '0001' }), { ks: [1, 2, 4] }) },
      { table: 'eval_after', report: summarizeEval(outcomes({ a: '1110', b: '0100', ch: '1100', dh: '1111' }), { ks: [1, 2, 4] }) },
    ],
    verdicts: { total: 480, correct: 250 },
    pipelineYaml: 'stages:\n  - sample: {k: 4}\n',
    notes: ['rollouts: 0 of 1 parts finished; plots use the finished ones.'],
  };
}

/** A run folder with nothing in it yet. */
export function emptyData(): ReportData {
  return { run: 'empty', runDir: '/tmp/runs/empty', generatedAt: '2026-01-01T00:00:00.000Z', tables: [], evals: [], notes: ['No tables yet.'] };
}
