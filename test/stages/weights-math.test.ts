// Golden and property tests of the weights (DESIGN.md "The weights (exactly)"). Expected values are
// worked out by hand in each test from the formulas, not by calling the code under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { weighQuestion, logSumExp, accuracy, type TraceFigures, type Estimator } from '../../src/stages/weights-math.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: ${actual} != ${expected}`);

// Values exactly representable in float32, so Float32Array storage changes nothing.
const f32 = (xs: number[]) => Float32Array.from(xs);

test('Acc golden: g, acc, log rho, rho, -infinity for acc 0, selection', () => {
  const traces: TraceFigures[] = [
    // L = 2: g = ((-1 - -0.5) + (-2 - -0.5)) / 2 = -1; acc 0.5 -> log rho = ln 0.5 - 1
    { k: 0, lp: f32([-1, -2]), lq: f32([-0.5, -0.5, -3]), la: f32([-0.25]), acc: 0.5 },
    // acc 0 -> -infinity, rho 0, never selected even though g is the best
    { k: 1, lp: f32([-0.5]), lq: f32([-1]), la: f32([-0.25]), acc: 0 },
    // L = 3: g = (0 + 0 + -0.75) / 3 = -0.25; acc 0.25 -> log rho = ln 0.25 - 0.25
    { k: 2, lp: f32([-1, -1, -1]), lq: f32([-1, -1, -0.25]), la: f32([-4]), acc: 0.25 },
  ];
  const w = weighQuestion(traces, { estimator: 'Acc', maxThinkTokens: 28000, hasVerifier: true });
  close(w[0]!.g, -1, 'g0');
  close(w[2]!.g, -0.25, 'g2');
  assert.equal(w[0]!.thinkTokens, 2);
  assert.equal(w[2]!.thinkTokens, 3);
  const l0 = Math.log(0.5) - 1; // -1.6931
  const l2 = Math.log(0.25) - 0.25; // -1.6363: the better one
  close(w[0]!.logRho, l0, 'logRho0');
  assert.equal(w[1]!.logRho, Number.NEGATIVE_INFINITY);
  close(w[2]!.logRho, l2, 'logRho2');
  // rho~ by hand: e^l0 / (e^l0 + e^l2) = 0.5e^-1 / (0.5e^-1 + 0.25e^-0.25)
  const a = 0.5 * Math.exp(-1);
  const b = 0.25 * Math.exp(-0.25);
  close(w[0]!.rho, a / (a + b), 'rho0');
  assert.equal(w[1]!.rho, 0);
  close(w[2]!.rho, b / (a + b), 'rho2');
  assert.deepEqual(w.map((x) => x.selected), [false, false, true]);
  assert.ok(w.every((x) => x.estimator === 'Acc' && x.fallback === null && x.eligible));
});

test('GML and L golden with unequal lp/lq lengths (lp longer: a trace without the end marker)', () => {
  // Without the marker, z = trace + "<|end_of": pi_theta0 scores the extra marker tokens, q_phi does not,
  // so lp is longer and L = len(lq): the extra lp tokens (-9, -9) must not count.
  const t: TraceFigures = { k: 0, lp: f32([-2, -1, -9, -9]), lq: f32([-1, -1]), la: f32([-0.5, -1.5, -1]), acc: null };
  const [gml] = weighQuestion([t], { estimator: 'GML', maxThinkTokens: 28000, hasVerifier: false });
  // g = ((-2+1) + (-1+1)) / 2 = -0.5; mean la = -3/3 = -1; log rho = -1.5
  assert.equal(gml!.thinkTokens, 2);
  close(gml!.g, -0.5, 'g');
  close(gml!.meanLa, -1, 'meanLa');
  close(gml!.logRho, -1.5, 'GML logRho');
  close(gml!.rho, 1, 'single trace rho');
  assert.equal(gml!.selected, true);
  const [l] = weighQuestion([t], { estimator: 'L', maxThinkTokens: 28000, hasVerifier: false });
  // L: sum la + sum (lp - lq) over t < L = -3 + -1 = -4
  close(l!.logRho, -4, 'L logRho');
  assert.equal(l!.estimator, 'L');
  assert.equal(l!.fallback, null);
});

test('Acc falls back to GML without a verifier, and says so', () => {
  const traces: TraceFigures[] = [
    { k: 0, lp: f32([-1]), lq: f32([-1]), la: f32([-2]), acc: null },
    { k: 1, lp: f32([-1]), lq: f32([-1]), la: f32([-1]), acc: null },
  ];
  const w = weighQuestion(traces, { estimator: 'Acc', maxThinkTokens: 28000, hasVerifier: false });
  assert.ok(w.every((x) => x.estimator === 'GML' && x.fallback !== null && x.acc === null));
  close(w[0]!.logRho, -2, 'logRho0');
  close(w[1]!.logRho, -1, 'logRho1');
  // rho~ = e^-2/(e^-2+e^-1), e^-1/(e^-2+e^-1)
  close(w[0]!.rho, Math.exp(-2) / (Math.exp(-2) + Math.exp(-1)), 'rho0');
  assert.deepEqual(w.map((x) => x.selected), [false, true]);
});

test('ties go to the first trace; the length cap excludes a trace from rho and selection', () => {
  const same = { lp: f32([-1, -1]), lq: f32([-0.5, -0.5]), la: f32([-1]) };
  const traces: TraceFigures[] = [
    // L = 3 >= cap 3: not eligible although its log rho (ln 1 + 0 = 0) is the largest
    { k: 0, lp: f32([-1, -1, -1]), lq: f32([-1, -1, -1]), la: f32([-1]), acc: 1 },
    { k: 1, ...same, acc: 0.5 },
    { k: 2, ...same, acc: 0.5 },
  ];
  const w = weighQuestion(traces, { estimator: 'Acc', maxThinkTokens: 3, hasVerifier: true });
  assert.deepEqual(w.map((x) => x.eligible), [false, true, true]);
  close(w[0]!.logRho, 0, 'ineligible logRho is still reported');
  assert.equal(w[0]!.rho, 0);
  close(w[1]!.rho, 0.5, 'tie rho1');
  close(w[2]!.rho, 0.5, 'tie rho2');
  assert.deepEqual(w.map((x) => x.selected), [false, true, false]);
  // Just under the cap it is eligible and wins.
  const w4 = weighQuestion(traces, { estimator: 'Acc', maxThinkTokens: 4, hasVerifier: true });
  assert.deepEqual(w4.map((x) => x.selected), [true, false, false]);
});

test('no trace with positive accuracy: all rho 0, none selected; an empty trace is not eligible', () => {
  const w = weighQuestion(
    [
      { k: 0, lp: f32([-1]), lq: f32([-1]), la: f32([-1]), acc: 0 },
      { k: 1, lp: f32([]), lq: f32([]), la: f32([-1]), acc: 1 },
    ],
    { estimator: 'Acc', maxThinkTokens: 28000, hasVerifier: true },
  );
  assert.deepEqual(w.map((x) => x.rho), [0, 0]);
  assert.deepEqual(w.map((x) => x.selected), [false, false]);
  assert.equal(w[1]!.eligible, false);
  assert.equal(w[1]!.g, 0);
});

test('Acc with a verifier but without verdicts is an error naming the trace', () => {
  assert.throws(
    () => weighQuestion([{ k: 3, lp: f32([-1]), lq: f32([-1]), la: f32([-1]), acc: null }], { estimator: 'Acc', maxThinkTokens: 10, hasVerifier: true }),
    /weigh: trace k=3 has no verdicts/,
  );
});

test('accuracy and logSumExp edge cases', () => {
  assert.equal(accuracy([]), null);
  assert.equal(accuracy([true, false, false, true]), 0.5);
  assert.equal(logSumExp([]), Number.NEGATIVE_INFINITY);
  assert.equal(logSumExp([Number.NEGATIVE_INFINITY]), Number.NEGATIVE_INFINITY);
  close(logSumExp([1000, 1000]), 1000 + Math.log(2), 'no overflow');
  close(logSumExp([-1000, -1000]), -1000 + Math.log(2), 'no underflow');
});

// ---------- properties ----------

const logp = fc.float({ min: -20, max: 0, noNaN: true, noDefaultInfinity: true });
const traceArb = (k: number) =>
  fc.record({
    lp: fc.array(logp, { minLength: 0, maxLength: 12 }),
    lq: fc.array(logp, { minLength: 0, maxLength: 12 }),
    la: fc.array(logp, { minLength: 1, maxLength: 6 }),
    acc: fc.constantFrom(0, 0.125, 0.5, 0.875, 1),
  }).map((t) => ({ k, lp: f32(t.lp), lq: f32(t.lq), la: f32(t.la), acc: t.acc }));
const questionArb = fc.integer({ min: 1, max: 8 }).chain((K) => fc.tuple(...Array.from({ length: K }, (_, k) => traceArb(k))));
const optionsArb = fc.record({
  estimator: fc.constantFrom<Estimator>('Acc', 'GML', 'L'),
  maxThinkTokens: fc.integer({ min: 1, max: 14 }),
  hasVerifier: fc.boolean(),
});

test('property: rho~ sums to 1 over a question whenever some trace has weight, else all 0', () => {
  fc.assert(
    fc.property(questionArb, optionsArb, (traces, options) => {
      const w = weighQuestion(traces, options);
      const total = w.reduce((s, x) => s + x.rho, 0);
      const any = w.some((x) => x.eligible && Number.isFinite(x.logRho));
      if (any) assert.ok(Math.abs(total - 1) < 1e-9, `sum ${total}`);
      else assert.equal(total, 0);
      for (const x of w) assert.ok(x.rho >= 0 && x.rho <= 1 + 1e-12);
    }),
    { numRuns: 500 },
  );
});

test('property: the selected trace is the first argmax of log rho over eligible traces', () => {
  fc.assert(
    fc.property(questionArb, optionsArb, (traces, options) => {
      const w = weighQuestion(traces, options);
      const pool = w.filter((x) => x.eligible && Number.isFinite(x.logRho));
      const selected = w.filter((x) => x.selected);
      if (pool.length === 0) return assert.equal(selected.length, 0);
      assert.equal(selected.length, 1);
      const max = Math.max(...pool.map((x) => x.logRho));
      const first = pool.find((x) => x.logRho === max)!;
      assert.equal(selected[0]!.k, first.k);
      // and it has the largest rho~
      assert.ok(pool.every((x) => x.rho <= selected[0]!.rho));
    }),
    { numRuns: 500 },
  );
});

test('property: adding a constant to every log rho changes no rho~ and no selection', () => {
  // Shifting every la by c/len(la) shifts GML's mean la by c for every trace, i.e. every log rho by c.
  fc.assert(
    fc.property(questionArb, optionsArb, fc.float({ min: -50, max: 50, noNaN: true }), (traces, options, c) => {
      const opts = { ...options, estimator: 'GML' as const };
      const base = weighQuestion(traces, opts);
      const shiftedTraces = traces.map((t) => ({ ...t, la: Float64Array.from(t.la, (v) => v + c) }));
      const shifted = weighQuestion(shiftedTraces, opts);
      for (let i = 0; i < base.length; i++) {
        assert.ok(Math.abs(shifted[i]!.rho - base[i]!.rho) < 1e-9, `rho ${i}: ${shifted[i]!.rho} vs ${base[i]!.rho}`);
        if (Number.isFinite(base[i]!.logRho)) assert.ok(Math.abs(shifted[i]!.logRho - base[i]!.logRho - c) < 1e-6);
      }
      // Selection may only differ where two log rho were within rounding of each other.
      const sb = base.findIndex((x) => x.selected);
      const ss = shifted.findIndex((x) => x.selected);
      if (sb !== ss) assert.ok(Math.abs(base[sb]!.logRho - base[ss]!.logRho) < 1e-9);
    }),
    { numRuns: 500 },
  );
});
