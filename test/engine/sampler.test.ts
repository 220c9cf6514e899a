// The sampler against a reference that sorts the whole vocabulary (the engine's earlier
// implementation, kept here as the oracle): partial selection must pick the same token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleToken, logSumExp, type SampleSettings } from '../../src/engines/onnx/sampler.js';
import { planBatches } from '../../src/engines/onnx/batching.js';
import { Rng } from '../../src/model/rng.js';

/** Full-sort reference: candidates by logit descending (ties by id), top-k, then top-p, then the draw. */
function reference(logits: Float32Array, vocab: number, s: SampleSettings, u: number): number {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) max = Math.max(max, logits[i]!);
  if (s.temperature <= 0) { let best = 0; for (let i = 1; i < vocab; i++) if (logits[i]! > logits[best]!) best = i; return best; }
  const k = s.topK > 0 && s.topK < vocab ? s.topK : vocab;
  const ids = Array.from({ length: vocab }, (_, i) => i);
  // Without truncation the draw walks the vocabulary in id order; with it, in descending logit order.
  const order = k === vocab && s.topP >= 1 ? ids : ids.sort((a, b) => (logits[b]! - logits[a]!) || a - b);
  const w = order.slice(0, k).map((i) => Math.exp((logits[i]! - max) / s.temperature));
  let total = 0;
  for (let i = 0; i < vocab; i++) if (k === vocab) total += Math.exp((logits[i]! - max) / s.temperature);
  if (k < vocab) total = w.reduce((a, b) => a + b, 0);
  let keep = k;
  if (s.topP < 1) { let cum = 0; for (let j = 0; j < k; j++) { cum += w[j]! / total; if (cum >= s.topP) { keep = j + 1; break; } } }
  let kept = 0;
  for (let j = 0; j < keep; j++) kept += w[j]!;
  let target = u * kept;
  for (let j = 0; j < keep; j++) { target -= w[j]!; if (target < 0) return order[j]!; }
  return order[keep - 1]!;
}

test('top-k / top-p / temperature by partial selection pick the same token as a full sort', () => {
  const rng = new Rng(7);
  let draws = 0;
  for (const vocab of [2, 17, 300, 5000]) {
    for (const ties of [false, true]) {
      for (let rep = 0; rep < 12; rep++) {
        const logits = new Float32Array(vocab);
        const scale = [0.1, 1, 4, 12][rep % 4]!;
        for (let i = 0; i < vocab; i++) logits[i] = ties ? Math.round(rng.normal() * 3) * scale / 3 : rng.normal() * scale;
        for (const temperature of [0, 0.6, 1, 1.5]) {
          for (const topK of [0, 1, 3, 40]) {
            for (const topP of [1, 0.95, 0.5, 0.05]) {
              const s = { temperature, topK, topP };
              const u = rng.uniform();
              const got = sampleToken(logits, 0, vocab, s, u);
              assert.equal(got.id, reference(logits, vocab, s, u), `vocab ${vocab} ties ${ties} ${JSON.stringify(s)} u ${u}`);
              assert.ok(Math.abs(got.logprob - (logits[got.id]! - logSumExp(logits, 0, vocab))) < 1e-9);
              draws++;
            }
          }
        }
      }
    }
  }
  assert.ok(draws > 5000);
});

test('the sampler reads its row at an offset and never returns a token outside top-k', () => {
  const vocab = 1000, rows = 3;
  const logits = new Float32Array(rows * vocab);
  const rng = new Rng(3);
  for (let i = 0; i < logits.length; i++) logits[i] = rng.normal();
  for (let r = 0; r < rows; r++) {
    const top5 = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => logits[r * vocab + b]! - logits[r * vocab + a]!).slice(0, 5);
    for (let k = 0; k < 200; k++) {
      const { id } = sampleToken(logits, r * vocab, vocab, { temperature: 2, topK: 5, topP: 1 }, rng.uniform());
      assert.ok(top5.includes(id), `row ${r}: ${id} not in top 5`);
    }
  }
});

test('scoring batches: every sequence once, limits kept, less padding than one big batch', () => {
  const rng = new Rng(5);
  const lengths = Array.from({ length: 200 }, (_, i) => (i % 17 === 0 ? 0 : 1 + Math.floor(rng.uniform() * 300)));
  const plan = planBatches(lengths, { maxRows: 32, tokenBudget: 4096 });
  const seen = plan.flat().sort((a, b) => a - b);
  assert.deepEqual(seen, lengths.map((l, i) => (l > 0 ? i : -1)).filter((i) => i >= 0));
  let padded = 0;
  for (const b of plan) {
    const L = Math.max(...b.map((i) => lengths[i]!));
    assert.ok(b.length <= 32 && (b.length === 1 || b.length * L <= 4096), `batch of ${b.length} x ${L}`);
    padded += b.length * L;
  }
  const real = lengths.reduce((a, b) => a + b, 0);
  // Greedy fixed-size batches of the sorted lengths pad more than the plan.
  const sorted = lengths.filter((l) => l > 0).sort((a, b) => b - a);
  let greedy = 0;
  for (let k = 0; k < sorted.length;) { const n = Math.min(32, Math.floor(4096 / sorted[k]!)); greedy += n * sorted[k]!; k += n; }
  assert.ok(padded <= greedy, `plan pads ${padded}, greedy ${greedy}`);
  assert.ok(padded < real * 1.2, `plan pads ${padded} for ${real} real tokens`);
  // A sequence longer than the budget gets a batch of its own.
  assert.deepEqual(planBatches([10, 5000, 10], { maxRows: 8, tokenBudget: 100 }), [[1], [0, 2]]);
});
