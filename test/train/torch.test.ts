// The PyTorch trainer (python/train_sft.py) launched by `trainSft({ trainer: 'torch' })`: same
// data order, loss and normaliser as the embedded trainer, so both agree step by step from the
// same base; and a clear error where torch is missing. Runs where /usr/bin/python3 (Debian's
// python3-torch) or $VRDATA_PYTHON imports torch; skipped with the reason printed otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModelFolder } from '../../src/model/folder.js';
import { openOnnxEngine } from '../../src/engines/onnx/engine.js';
import { trainSft } from '../../src/train/trainer.js';
import { VrdataError } from '../../src/util/errors.js';
import { arithmeticRows, tempDir, tinyModel, writeSet } from './helpers.js';

const imports = (python: string, mod: string): boolean => spawnSync(python, ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;
const candidates = [process.env.VRDATA_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
const torchPython = candidates.find((p) => imports(p, 'torch'));
const noTorchPython = candidates.find((p) => spawnSync(p, ['-c', 'pass']).status === 0 && !imports(p, 'torch'));
const skipTorch = torchPython ? false : `no Python here imports torch (tried ${candidates.join(', ')}); apt-get install python3-torch or set VRDATA_PYTHON`;

test('torch trainer: same losses as the embedded trainer, and a model folder the engine loads', { skip: skipTorch }, async () => {
  const d = tempDir('torch');
  const base = await tinyModel(join(d, 'base'));
  const rows = arithmeticRows(12);
  const data = await writeSet(join(d, 'set.parquet'), rows);
  const common = { data, base, lr: 2e-3, epochs: 3, batchTokens: 96, gradAccum: 2, warmup: 1, threads: 1, quiet: true, checkpointEvery: 0 };
  const embedded = await trainSft({ ...common, out: join(d, 'embedded') });
  const torch = await trainSft({ ...common, out: join(d, 'torch'), trainer: 'torch', python: torchPython });
  assert.equal(torch.steps, embedded.steps);
  assert.equal(torch.normaliser, embedded.normaliser);
  assert.equal(torch.losses.length, embedded.losses.length);
  torch.losses.forEach((l, i) => {
    assert.ok(Math.abs(l - embedded.losses[i]!) < 2e-3 * embedded.losses[i]!, `step ${i + 1}: torch ${l}, embedded ${embedded.losses[i]}`);
  });
  assert.ok(torch.losses.at(-1)! < torch.losses[0]!, 'torch training did not lower the loss');
  // Final weights agree closely (different float summation orders, same maths).
  const a = (await readModelFolder(join(d, 'embedded'))).weights;
  const b = (await readModelFolder(join(d, 'torch'))).weights;
  for (const [n, w] of a) {
    const u = b.get(n)!;
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < w.length; i++) { diff += (w[i]! - u[i]!) ** 2; norm += w[i]! ** 2; }
    assert.ok(Math.sqrt(diff) < 1e-3 * Math.sqrt(norm), `${n}: relative difference ${Math.sqrt(diff / norm)}`);
  }
  const engine = await openOnnxEngine({ modelDir: join(d, 'torch'), threads: 1 });
  const [scored] = await engine.score([{ prompt: rows[0]!.prompt, continuation: rows[0]!.response }]);
  await engine.close();
  assert.ok(scored!.logprobs.length > 0);
  const yaml = readFileSync(join(d, 'torch', 'llamafactory_sft.yaml'), 'utf8');
  assert.match(yaml, /IGNORES the per-row "weight" column/);
  assert.match(yaml, /stage: sft/);
});

test('torch trainer: a Python without torch gives an error naming torch', { skip: noTorchPython ? false : 'every Python here has torch' }, async () => {
  const d = tempDir('notorch');
  const base = await tinyModel(join(d, 'base'));
  const data = await writeSet(join(d, 'set.parquet'), arithmeticRows(2));
  await assert.rejects(
    trainSft({ data, base, out: join(d, 'out'), trainer: 'torch', python: noTorchPython, quiet: true }),
    (err: unknown) => err instanceof VrdataError && /needs PyTorch/.test(err.message) && /missing: torch/.test(err.message),
  );
  assert.ok(!existsSync(join(d, 'out', 'config.json')));
});
