// The PyTorch trainer (python/train_sft.py) launched by `trainSft({ trainer: 'torch' })`: same
// data order, loss and normaliser as the embedded trainer, so both agree step by step from the
// same base; a run SIGKILLed mid-way resumes from its checkpoint to the weights of an
// uninterrupted run; and a clear error where torch is missing. Runs where /usr/bin/python3 (Debian's
// python3-torch) or $VRDATA_PYTHON imports torch; skipped with the reason printed otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readModelFolder } from '../../src/model/folder.js';
import { openOnnxEngine } from '../../src/engines/onnx/engine.js';
import { trainSft } from '../../src/train/trainer.js';
import { VrdataError } from '../../src/util/errors.js';
import { arithmeticRows, assertSameWeights, tempDir, tinyModel, writeSet } from './helpers.js';

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

/**
 * A launcher that runs train_sft.py in its own process and SIGKILLs it as it prints the progress
 * line of `step`: a kill mid-run at a step known in advance, with no timing race.
 */
const killAtStep = (python: string, step: number): string[] => [python, '-c', `
import json, os, runpy, signal, sys
class KillAt:
    def __init__(self, out): self.out = out
    def write(self, text):
        n = self.out.write(text)
        try: ev = json.loads(text)
        except ValueError: return n
        if ev.get("event") == "step" and ev.get("step") == ${step}:
            self.out.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return n
    def flush(self): self.out.flush()
sys.stdout = KillAt(sys.stdout)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
`];

/** The JSON lines of events.jsonl, split into one list per process (each begins with "start"). */
function eventsByProcess(out: string): Record<string, unknown>[][] {
  const runs: Record<string, unknown>[][] = [];
  for (const line of readFileSync(join(out, 'torch', 'events.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const ev = JSON.parse(line) as Record<string, unknown>;
    if (ev.event === 'start') runs.push([]);
    runs.at(-1)!.push(ev);
  }
  return runs;
}

test('torch trainer: SIGKILL mid-training, then rerunning the same command, gives the weights of an uninterrupted run', { skip: skipTorch }, async () => {
  const d = tempDir('torch-resume');
  const base = await tinyModel(join(d, 'base'));
  const data = await writeSet(join(d, 'set.parquet'), arithmeticRows(24));
  const common = { data, base, trainer: 'torch' as const, python: torchPython, lr: 2e-3, epochs: 2, batchTokens: 64, warmup: 2, checkpointEvery: 3, seed: 5, threads: 1, quiet: true };
  const whole = await trainSft({ ...common, out: join(d, 'whole') });
  assert.ok(whole.steps >= 12, `planned ${whole.steps} steps`);

  const out = join(d, 'killed');
  await assert.rejects(
    trainSft({ ...common, out, torchLauncher: killAtStep(torchPython!, 8) }),
    (err: unknown) => err instanceof VrdataError && /killed by SIGKILL/.test(err.message) && /resumes from the checkpoint of step 6/.test(err.message),
  );
  assert.ok(!existsSync(join(out, 'train_result.json')), 'the killed run must not have finished');
  const checkpoints = join(out, 'torch', 'checkpoints');
  assert.deepEqual(readdirSync(checkpoints), ['step-00000003', 'step-00000006']);
  mkdirSync(join(checkpoints, 'step-00000009.tmp-save')); // what a kill mid-save leaves

  // Other options into the same folder: refused, not resumed from this run's checkpoints.
  await assert.rejects(trainSft({ ...common, out, lr: 1e-3 }), (err: unknown) => err instanceof VrdataError && /checkpoints of a different run/.test(err.message));

  const resumed = await trainSft({ ...common, out });
  const second = eventsByProcess(out).at(-1)!;
  assert.deepEqual(second.filter((e) => e.event === 'resume').map((e) => e.step), [6]);
  assert.deepEqual(second.filter((e) => e.event === 'step').map((e) => e.step), Array.from({ length: whole.steps - 6 }, (_, i) => i + 7), 'the resumed run must do exactly the steps after its checkpoint');
  assert.ok(!readdirSync(checkpoints).some((n) => n.includes('.tmp-')), 'stray temp folder left');
  assert.equal(resumed.steps, whole.steps);
  assert.ok(resumed.tokens < whole.tokens, 'the resumed run redid steps it had checkpointed');
  // One CPU thread, the same operations in the same order: bit-identical.
  assert.deepEqual(resumed.losses, whole.losses);
  await assertSameWeights(join(d, 'whole'), out);
});
