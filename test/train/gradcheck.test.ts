// Every gradient of the training graph against central finite differences of its own loss, on a
// tiny Qwen3 (GQA, untied and tied head), with repeated token ids (embedding scatter-add),
// prompt-masked and padded positions (weight 0) and unequal row weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qwen3Config, type Qwen3Config } from '../../src/model/qwen3.js';
import { initWeights } from '../../src/model/weights.js';
import { TrainSession } from '../../src/train/session.js';
import { batchTensors, type Example } from '../../src/train/data.js';
import { Rng } from '../../src/train/rng.js';

function tinyExamples(vocab: number): Example[] {
  const rng = new Rng(7);
  const mk = (len: number, promptLen: number, weight: number, row: number): Example => ({
    ids: Int32Array.from({ length: len }, () => Math.floor(rng.next() * vocab) % 11), // few ids: many repeats
    promptLen, weight, row,
  });
  return [mk(7, 2, 1.0, 0), mk(5, 1, 2.5, 1), mk(6, 3, 0.5, 2)];
}

async function check(config: Qwen3Config): Promise<void> {
  const weights = initWeights(config, { seed: 3, std: 0.2 });
  const rng = new Rng(11);
  // norm gains away from 1 so their gradients are not special
  for (const [n, w] of weights) if (n.endsWith('norm.weight')) for (let i = 0; i < w.length; i++) w[i] = 1 + 0.3 * (rng.next() - 0.5);
  const examples = tinyExamples(config.vocab_size);
  const batch = batchTensors(examples, { rows: [0, 1, 2], seqLen: 6 }, 4);
  const session = await TrainSession.create(config, { threads: 1 });
  try {
    const base = await session.run(weights, batch);
    // The loss in float64 from the per-token log-probs (the graph's own float32 sum is noisier).
    const lossOf = async (w: Map<string, Float32Array>): Promise<number> => {
      const r = await session.run(w, batch);
      let s = 0;
      for (let i = 0; i < r.tokenLogp.length; i++) s -= batch.tokenWeights[i]! * r.tokenLogp[i]!;
      return s;
    };
    const failures: string[] = [];
    for (const [name, w] of weights) {
      const grad = base.grads.get(name)!;
      assert.equal(grad.length, w.length, name);
      let gnorm = 0;
      for (const x of grad) gnorm += x * x;
      gnorm = Math.sqrt(gnorm);
      assert.ok(gnorm > 1e-6, `${name}: gradient is zero`);
      // Two directions per tensor: along the gradient (checks its size) and a random one (its direction).
      const random = Float64Array.from({ length: w.length }, () => rng.normal());
      const rnorm = Math.sqrt(random.reduce((a, b) => a + b * b, 0));
      const dirs: [string, Float64Array][] = [
        ['grad', Float64Array.from(grad, (x) => x / gnorm)],
        ['random', random.map((x) => x / rnorm)],
      ];
      for (const [label, v] of dirs) {
        const eps = 1e-2;
        const plus = new Map(weights);
        const minus = new Map(weights);
        plus.set(name, Float32Array.from(w, (x, i) => x + eps * v[i]!));
        minus.set(name, Float32Array.from(w, (x, i) => x - eps * v[i]!));
        const fd = ((await lossOf(plus)) - (await lossOf(minus))) / (2 * eps);
        let analytic = 0;
        for (let i = 0; i < grad.length; i++) analytic += grad[i]! * v[i]!;
        // relative to the gradient's norm: a random direction's derivative may be near 0
        const rel = Math.abs(fd - analytic) / gnorm;
        if (!(rel < 1e-2)) failures.push(`${name} (${label}): finite difference ${fd.toExponential(4)}, graph ${analytic.toExponential(4)}, rel ${rel.toExponential(2)}`);
      }
    }
    assert.deepEqual(failures, []);
  } finally {
    await session.close();
  }
}

test('every weight gradient matches central finite differences (untied head, GQA)', async () => {
  await check(qwen3Config({ vocabSize: 13, hidden: 16, layers: 2, heads: 4, kvHeads: 2, headDim: 8, intermediate: 24, tie: false, ropeTheta: 10000 }));
});

test('every weight gradient matches central finite differences (tied embeddings, MHA)', async () => {
  await check(qwen3Config({ vocabSize: 13, hidden: 12, layers: 1, heads: 2, kvHeads: 2, headDim: 6, intermediate: 20, tie: true, ropeTheta: 10000 }));
});
