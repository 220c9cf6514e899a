// The embedded trainer end to end: it learns, row weights act as they should, and a SIGKILLed
// run resumed from its checkpoint ends with exactly the weights of an uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModelFolder } from '../../src/model/folder.js';
import { openOnnxEngine } from '../../src/engines/onnx/engine.js';
import { trainSft } from '../../src/train/trainer.js';
import { TrainSession } from '../../src/train/session.js';
import { batchTensors, type Example } from '../../src/train/data.js';
import { arithmeticRows, assertSameWeights, tempDir, tinyModel, writeSet } from './helpers.js';

async function scoreSum(modelDir: string, rows: { prompt: string; response: string }[]): Promise<number> {
  const engine = await openOnnxEngine({ modelDir, threads: 1 });
  try {
    const res = await engine.score(rows.map((r) => ({ prompt: r.prompt, continuation: r.response })));
    return res.reduce((acc, r) => acc + r.logprobs.reduce((a, b) => a + b, 0), 0);
  } finally {
    await engine.close();
  }
}

test('training lowers the loss and raises the engine-scored log-prob of the responses', async () => {
  const d = tempDir('learn');
  const base = await tinyModel(join(d, 'base'));
  const rows = arithmeticRows(16);
  const data = await writeSet(join(d, 'set.parquet'), rows);
  const out = join(d, 'out');
  const r = await trainSft({ data, base, out, lr: 3e-3, epochs: 20, batchTokens: 128, warmup: 2, threads: 1, quiet: true });
  assert.ok(r.steps >= 20, `planned ${r.steps} steps`);
  const first = r.losses.slice(0, 2).reduce((a, b) => a + b) / 2;
  const last = r.losses.slice(-2).reduce((a, b) => a + b) / 2;
  assert.ok(last < 0.7 * first, `loss went from ${first} to ${last}`);
  // The output folder loads in the engine as it is, and it prefers the training responses.
  const before = await scoreSum(base, rows);
  const after = await scoreSum(out, rows);
  assert.ok(after > before + 10, `log-prob of the responses: before ${before}, after ${after}`);
  // A rerun of the finished run is a no-op that returns the same result.
  const again = await trainSft({ data, base, out, lr: 3e-3, epochs: 20, batchTokens: 128, warmup: 2, threads: 1, quiet: true });
  assert.deepEqual(again.losses, r.losses);
});

test('row weights scale the gradient: weight 0 adds nothing, weight 2 equals the row twice', async () => {
  const d = tempDir('weights');
  const { config, weights } = await readModelFolder(await tinyModel(join(d, 'base')));
  const ex = (ids: number[], promptLen: number, weight: number, row: number): Example => ({ ids: Int32Array.from(ids), promptLen, weight, row });
  const a = [5, 70, 71, 72, 73, 74];
  const b = [9, 80, 81, 82, 83, 84, 85];
  const session = await TrainSession.create(config, { threads: 1 });
  try {
    const run = async (examples: Example[]) => session.run(weights, batchTensors(examples, { rows: examples.map((_, i) => i), seqLen: 6 }, 10));
    const alone = await run([ex(a, 2, 1, 0)]);
    const withZero = await run([ex(a, 2, 1, 0), ex(b, 2, 0, 1)]);
    const doubled = await run([ex(a, 2, 2, 0)]);
    const twice = await run([ex(a, 2, 1, 0), ex(a, 2, 1, 1)]);
    assert.ok(alone.loss > 0);
    assert.ok(Math.abs(withZero.loss - alone.loss) < 1e-6 * alone.loss);
    assert.ok(Math.abs(doubled.loss - 2 * alone.loss) < 1e-5 * alone.loss);
    assert.ok(Math.abs(twice.loss - doubled.loss) < 1e-5 * alone.loss);
    for (const [name, g] of alone.grads) {
      const gz = withZero.grads.get(name)!;
      const g2 = doubled.grads.get(name)!;
      const gt = twice.grads.get(name)!;
      let scale = 0;
      for (const x of g) scale = Math.max(scale, Math.abs(x));
      for (let i = 0; i < g.length; i++) {
        assert.ok(Math.abs(gz[i]! - g[i]!) <= 1e-6 * scale + 1e-9, `${name}[${i}] weight-0 row changed the gradient`);
        assert.ok(Math.abs(g2[i]! - 2 * g[i]!) <= 1e-5 * scale + 1e-9, `${name}[${i}] weight 2 is not twice the gradient`);
        assert.ok(Math.abs(gt[i]! - g2[i]!) <= 1e-5 * scale + 1e-9, `${name}[${i}] weight 2 differs from the row twice`);
      }
    }
  } finally {
    await session.close();
  }
});

test('a weight-0 row in the training set changes nothing in the trained model', async () => {
  const d = tempDir('zero');
  const base = await tinyModel(join(d, 'base'));
  const rows = arithmeticRows(6);
  const opts = { base, lr: 1e-3, epochs: 2, batchTokens: 64, threads: 1, quiet: true };
  await trainSft({ ...opts, data: await writeSet(join(d, 'a.parquet'), rows), out: join(d, 'a') });
  await trainSft({ ...opts, data: await writeSet(join(d, 'b.parquet'), [...rows, { prompt: 'Q: 1+1=? A:', response: ' 7.', weight: 0 }]), out: join(d, 'b') });
  const wa = (await readModelFolder(join(d, 'a'))).weights;
  const wb = (await readModelFolder(join(d, 'b'))).weights;
  for (const [n, w] of wa) assert.deepEqual(wb.get(n), w, n);
});

test('SIGKILL mid-training, then rerunning the same command, gives the weights of an uninterrupted run', async () => {
  const d = tempDir('resume');
  const base = await tinyModel(join(d, 'base'), { hidden: 48 });
  const data = await writeSet(join(d, 'set.parquet'), arithmeticRows(48));
  const common = { lr: 2e-3, epochs: 4, batchTokens: 64, gradAccum: 2, warmup: 3, checkpointEvery: 3, seed: 5, threads: 1 };
  const uninterrupted = await trainSft({ ...common, data, base, out: join(d, 'whole'), quiet: true });
  assert.ok(uninterrupted.steps >= 20, `planned ${uninterrupted.steps} steps`);

  const out = join(d, 'killed');
  const args = [
    '--import', 'tsx', 'src/cli/main.ts', 'train', '--data', data, '--base', base, '--out', out, '--lr', '2e-3', '--epochs', '4',
    '--batch-tokens', '64', '--grad-accum', '2', '--warmup', '3', '--checkpoint-every', '3', '--seed', '5', '--threads', '1', '--quiet',
  ];
  const latest = join(out, 'checkpoints', 'latest.json');
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  // Kill as soon as the second checkpoint exists: mid-run, with a checkpoint behind it.
  let killedAt = -1;
  while (child.exitCode === null) {
    if (existsSync(latest)) {
      const step = (JSON.parse(readFileSync(latest, 'utf8')) as { step: number }).step;
      if (step >= 6) {
        child.kill('SIGKILL');
        killedAt = step;
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await exited;
  assert.ok(killedAt > 0 && killedAt < uninterrupted.steps, `child was not killed mid-run (checkpoint ${killedAt})`);
  assert.ok(!existsSync(join(out, 'train_result.json')), 'the killed run must not have finished');

  const resumed = await trainSft({ ...common, data, base, out, quiet: true });
  assert.equal(resumed.steps, uninterrupted.steps);
  assert.ok(resumed.tokens < uninterrupted.tokens, 'the resumed run redid steps it had checkpointed');
  assert.deepEqual(resumed.losses, uninterrupted.losses);
  await assertSameWeights(join(d, 'whole'), out);
});
