// The embedded onnxruntime engine on a real model folder made by the model maker: scoring vs
// sampling, batching, seeds, stop/EOS, a peer implementation (transformers.js), bad folders.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, truncateSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { env, AutoModelForCausalLM, Tensor } from '@huggingface/transformers';
import { initModelFolder } from '../../src/model/folder.js';
import { GraphBuilder } from '../../src/model/graph.js';
import { openOnnxEngine, type OnnxEngine } from '../../src/engines/onnx/engine.js';
import { DEFAULT_GENERATE_OPTIONS, type GenerateOptions } from '../../src/engines/types.js';
import { VrdataError } from '../../src/util/errors.js';

const root = mkdtempSync(join(tmpdir(), 'vrdata-engine-'));
const modelDir = join(root, 'tiny');
const corpus = 'Question: what is 2 + 3? <|begin_of_thought|> 2 + 3 = 5 <|end_of_thought|> <|begin_of_solution|> 5 <|end_of_solution|> '.repeat(10);
let engine: OnnxEngine;
const opts = (o: Partial<GenerateOptions>): GenerateOptions => ({ ...DEFAULT_GENERATE_OPTIONS, ...o });
const prompts = ['Question: what is 2 + 3?', 'The cat', 'a', 'Hello there, how are you today? Fine, thanks.'];

before(async () => {
  await initModelFolder({ out: modelDir, layers: 2, hidden: 64, heads: 4, kvHeads: 2, seed: 11, initStd: 0.3, mergesCorpus: corpus, merges: 40 });
  engine = await openOnnxEngine({ modelDir, threads: 1 });
});
after(async () => { await engine.close(); rmSync(root, { recursive: true, force: true }); });

test('scored log-probs of sampled continuations sum to the sampler\'s own log-probs (1e-3)', async () => {
  const out = await engine.generate(prompts.map((prompt, i) => ({ prompt, options: opts({ n: 3, seed: 100 * i, maxTokens: 24 }) })));
  const reqs = out.flatMap((cs, i) => cs.map((c) => ({ prompt: engine.model.tokenizer.encode(prompts[i]!, { add_special_tokens: false }).ids, continuation: c.ids })));
  const scored = await engine.scoreIds(reqs);
  let worst = 0;
  out.flat().forEach((c, k) => {
    assert.equal(scored[k]!.logprobs.length, c.tokens);
    worst = Math.max(worst, Math.abs(scored[k]!.logprobs.reduce((s, v) => s + v, 0) - c.logprob!));
  });
  assert.ok(worst < 1e-3, `max |sum(score) - sampler logprob| = ${worst}`);
  // Text scoring equals id scoring whenever the text re-tokenizes to the same ids.
  const plain = await engine.score([{ prompt: prompts[0]!, continuation: ' 2 + 3 = 5' }]);
  const byIds = await engine.scoreIds([{ prompt: await engine.tokenize(prompts[0]!), continuation: await engine.tokenize(' 2 + 3 = 5') }]);
  assert.deepEqual(plain[0]!.logprobs, byIds[0]!.logprobs);
});

test('scoring: batched equals one at a time; chunked long sequences equal one pass (1e-4)', async () => {
  const reqs = prompts.map((p, i) => ({ prompt: p, continuation: prompts[(i + 1) % prompts.length]! + ' <|end_of_thought|>' }));
  const batched = await engine.score(reqs);
  const chunked = await openOnnxEngine({ modelDir, threads: 1, scoreTokenBudget: 7 });
  try {
    for (const [i, r] of reqs.entries()) {
      const [alone] = await engine.score([r]);
      const [small] = await chunked.score([r]);
      assert.deepEqual(alone!.tokens, batched[i]!.tokens);
      for (let t = 0; t < alone!.logprobs.length; t++) {
        assert.ok(Math.abs(alone!.logprobs[t]! - batched[i]!.logprobs[t]!) < 1e-4, `row ${i} token ${t}: batched`);
        assert.ok(Math.abs(alone!.logprobs[t]! - small!.logprobs[t]!) < 1e-4, `row ${i} token ${t}: chunked`);
      }
    }
  } finally { await chunked.close(); }
  // The answer text after the pipeline's cut starts with `_thought|>`: it still scores.
  const [cut] = await engine.score([{ prompt: 'x <|end_of', continuation: '_thought|> 5' }]);
  assert.ok(cut!.logprobs.length > 0 && cut!.logprobs.every((v) => Number.isFinite(v) && v < 0));
});

test('same seed, same text on a rerun; alone (batch of 1) vs in a batch of 64 rows: identical for >= 99% of samples', async () => {
  const o = { seed: 5, maxTokens: 20, temperature: 1 };
  const a = await engine.generate([{ prompt: prompts[0]!, options: opts({ ...o, n: 4 }) }]);
  const b = await engine.generate([{ prompt: prompts[0]!, options: opts({ ...o, n: 4 }) }]);
  assert.deepEqual(a, b);
  // 64 samples: 4 prompts x 16 decoded together in one batch of 64 rows, against each sample in a batch of 1.
  const batched = await engine.generate(prompts.map((prompt) => ({ prompt, options: opts({ ...o, n: 16 }) })));
  let same = 0, total = 0, flips = 0;
  const single = await openOnnxEngine({ modelDir, threads: 1, maxBatchRows: 1 });
  for (const [i, prompt] of prompts.entries()) {
    const alone = await single.generate(Array.from({ length: 16 }, (_, s) => ({ prompt, options: opts({ ...o, n: 1, seed: o.seed + s }) })));
    alone.forEach(([c], s) => {
      total++;
      if (c!.text === batched[i]![s]!.text) same++; else flips++;
    });
  }
  await single.close();
  console.log(`# batch-1 vs batch-64: ${same}/${total} identical, ${flips} flipped by float noise`);
  assert.ok(same / total >= 0.99, `${flips} of ${total} samples differ`);
  // A different seed gives different text (the check can fail).
  const c = await engine.generate([{ prompt: prompts[0]!, options: opts({ ...o, n: 4, seed: 6 }) }]);
  assert.notDeepEqual(c[0]!.map((x) => x.text), a[0]!.map((x) => x.text));
});

test('stop strings are kept at the end; EOS stops with reason stop; max_tokens gives length', async () => {
  const [[free]] = await engine.generate([{ prompt: prompts[1]!, options: opts({ seed: 3, maxTokens: 30, temperature: 0.7 }) }]);
  assert.equal(free!.finishReason, 'length');
  assert.equal(free!.tokens, 30);
  const stop = free!.text.slice(6, 8);
  const [[stopped]] = await engine.generate([{ prompt: prompts[1]!, options: opts({ seed: 3, maxTokens: 30, temperature: 0.7, stop: ['\u0000never', stop] }) }]);
  assert.equal(stopped!.finishReason, 'stop');
  assert.ok(stopped!.text.endsWith(stop));
  assert.ok(free!.text.startsWith(stopped!.text));
  assert.equal(stopped!.text.indexOf(stop), stopped!.text.length - stop.length);
  // EOS: declare the 4th sampled token an end-of-sequence token.
  const eosDir = join(root, 'eos');
  cpSync(modelDir, eosDir, { recursive: true });
  const gen = JSON.parse(readFileSync(join(eosDir, 'generation_config.json'), 'utf8')) as { eos_token_id: number[] };
  gen.eos_token_id = [...gen.eos_token_id, free!.ids[3]!];
  writeFileSync(join(eosDir, 'generation_config.json'), JSON.stringify(gen));
  const e2 = await openOnnxEngine({ modelDir: eosDir, threads: 1 });
  try {
    const [[eos]] = await e2.generate([{ prompt: prompts[1]!, options: opts({ seed: 3, maxTokens: 30, temperature: 0.7 }) }]);
    const first = free!.ids.indexOf(free!.ids[3]!);
    assert.equal(eos!.finishReason, 'stop');
    assert.equal(eos!.tokens, first + 1);
    assert.deepEqual(eos!.ids, free!.ids.slice(0, first + 1));
  } finally { await e2.close(); }
});

test('long prompts prefilled in chunks give the same samples', async () => {
  const chunked = await openOnnxEngine({ modelDir, threads: 1, prefillChunk: 3 });
  try {
    const req = [{ prompt: prompts[3]!, options: opts({ n: 4, seed: 9, maxTokens: 16 }) }];
    const a = await engine.generate(req);
    const b = await chunked.generate(req);
    assert.deepEqual(b[0]!.map((c) => c.ids), a[0]!.map((c) => c.ids));
    b[0]!.forEach((c, i) => assert.ok(Math.abs(c.logprob! - a[0]![i]!.logprob!) < 1e-3));
  } finally { await chunked.close(); }
});

test('transformers.js loads the folder and computes the same logits (1e-4)', async () => {
  env.allowRemoteModels = false;
  env.localModelPath = root;
  const peer = await AutoModelForCausalLM.from_pretrained('tiny', { dtype: 'fp32', device: 'cpu', session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
  try {
    const ids = await engine.tokenize(`${prompts[0]} <|begin_of_thought|> 2 + 3`);
    const out = await peer({ input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]), attention_mask: new Tensor('int64', BigInt64Array.from(ids.map(() => 1n)), [1, ids.length]) }) as { logits: { data: Float32Array } };
    const ours = await engine.logitsOf(ids);
    assert.equal(out.logits.data.length, ours.logits.length);
    let worst = 0;
    for (let i = 0; i < ours.logits.length; i++) worst = Math.max(worst, Math.abs(ours.logits[i]! - out.logits.data[i]!));
    assert.ok(worst < 1e-4, `transformers.js vs vrdata: max |diff| ${worst}`);
  } finally { await peer.dispose(); }
});

/** Opens a broken copy of the model folder and returns the one error message. */
async function brokenFolder(name: string, breakIt: (dir: string) => void): Promise<string> {
  const dir = join(root, name);
  cpSync(modelDir, dir, { recursive: true });
  breakIt(dir);
  try {
    const e = await openOnnxEngine({ modelDir: dir, threads: 1 });
    await e.close();
  } catch (err) {
    assert.ok(err instanceof VrdataError, `${name}: ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail(`${name}: opened without an error`);
}

test('bad model folders each give one clear error', async () => {
  assert.match(await brokenFolder('no-tokenizer', (d) => rmSync(join(d, 'tokenizer.json'))), /lacks tokenizer\.json/);
  assert.match(await brokenFolder('no-onnx', (d) => rmSync(join(d, 'onnx', 'model.onnx'))), /lacks onnx\/model\.onnx/);
  assert.match(await brokenFolder('vocab', (d) => {
    const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as { vocab_size: number };
    c.vocab_size = 200;
    writeFileSync(join(d, 'config.json'), JSON.stringify(c));
  }), /tokenizer and model disagree: tokenizer\.json has ids up to \d+ but config\.json says vocab_size 200/);
  assert.match(await brokenFolder('corrupt', (d) => {
    const p = join(d, 'onnx', 'model.onnx');
    truncateSync(p, Math.floor(statSync(p).size / 3));
  }), /onnxruntime could not load .*corrupt/);
  assert.match(await brokenFolder('garbage', (d) => writeFileSync(join(d, 'onnx', 'model.onnx'), 'not a model')), /onnxruntime could not load/);
  assert.match(await brokenFolder('names', (d) => {
    // A valid ONNX model whose inputs are not named the Hugging Face way.
    const g = new GraphBuilder();
    const x = g.input('ids', 'int64', ['batch', 'seq']);
    g.output(g.cast(x, 'float32'), 'float32', ['batch', 'seq'], 'scores');
    writeFileSync(join(d, 'onnx', 'model.onnx'), g.toBytes({ weights: new Map() }));
  }), /not a decoder with a KV cache .*lacks input input_ids, input attention_mask/);
  assert.match(await brokenFolder('missing-dir', (d) => rmSync(d, { recursive: true })), /does not exist/);
});

test('--device cuda fails with a message naming the missing CUDA provider library', async () => {
  await assert.rejects(openOnnxEngine({ modelDir, device: 'cuda' }), (err: Error) => err instanceof VrdataError && /libonnxruntime_providers_cuda\.so/.test(err.message) && /--device cpu/.test(err.message));
});

test('`vrdata generate --json` and `vrdata score --json` print results', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env } });
  const g = cli(['generate', '--model', modelDir, '--prompt', 'The cat', '--n', '2', '--max-tokens', '5', '--seed', '1', '--threads', '1', '--json']);
  assert.equal(g.status, 0, g.stderr);
  const gj = JSON.parse(g.stdout) as { completions: { tokens: number; finish_reason: string }[] };
  assert.equal(gj.completions.length, 2);
  assert.ok(gj.completions.every((c) => c.tokens <= 5));
  const s = cli(['score', '--model', modelDir, '--prompt', 'The cat', '--continuation', ' sat', '--threads', '1', '--json']);
  assert.equal(s.status, 0, s.stderr);
  const sj = JSON.parse(s.stdout) as { tokens: number[]; logprobs: number[]; sum: number };
  assert.equal(sj.tokens.length, sj.logprobs.length);
  assert.ok(Math.abs(sj.sum - sj.logprobs.reduce((a, b) => a + b, 0)) < 1e-9);
  const bad = cli(['generate', '--model', join(root, 'nowhere'), '--prompt', 'x']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /engine: model folder .* does not exist/);
});

test('completions carry per-token log-probs: one per token, summing to logprob, equal to scoring (1e-4)', async () => {
  const out = await engine.generate([{ prompt: prompts[0]!, options: opts({ n: 3, seed: 21, maxTokens: 16, temperature: 0.8, topP: 0.9 }) }]);
  const promptIds = await engine.tokenize(prompts[0]!);
  for (const c of out[0]!) {
    assert.equal(c.tokenLogprobs.length, c.tokens);
    assert.ok(Math.abs(c.tokenLogprobs.reduce((a, b) => a + b, 0) - c.logprob!) < 1e-9);
    const [scored] = await engine.scoreIds([{ prompt: promptIds, continuation: c.ids }]);
    c.tokenLogprobs.forEach((lp, t) => assert.ok(Math.abs(lp - scored!.logprobs[t]!) < 1e-4, `token ${t}: ${lp} vs ${scored!.logprobs[t]}`));
  }
});

test('in-graph scoring equals scoring from full logits (1e-5), chunked or not', async () => {
  assert.equal(engine.model.scoreOutputs, true, 'the project\'s own model gets the scoring outputs');
  const plain = await openOnnxEngine({ modelDir, threads: 1, scoreGraph: false });
  const chunked = await openOnnxEngine({ modelDir, threads: 1, scoreTokenBudget: 5 });
  try {
    assert.equal(plain.model.scoreOutputs, false);
    const reqs = prompts.map((p, i) => ({ prompt: p, continuation: ` ${prompts[(i + 2) % prompts.length]!} <|end_of_thought|>` }));
    const a = await engine.score(reqs), b = await plain.score(reqs), c = await chunked.score(reqs);
    reqs.forEach((_, i) => {
      assert.equal(a[i]!.logprobs.length, b[i]!.logprobs.length);
      for (let t = 0; t < a[i]!.logprobs.length; t++) {
        assert.ok(Math.abs(a[i]!.logprobs[t]! - b[i]!.logprobs[t]!) < 1e-5, `row ${i} token ${t}: in-graph vs logits`);
        assert.ok(Math.abs(c[i]!.logprobs[t]! - b[i]!.logprobs[t]!) < 1e-5, `row ${i} token ${t}: chunked in-graph vs logits`);
      }
    });
  } finally { await plain.close(); await chunked.close(); }
});

test('decoding through kv_step outputs (own cache, grown in place) equals decoding through present outputs', async () => {
  // maxTokens past the cache's first capacity (prompt + 32 columns) makes it grow mid-batch; rows of other
  // lengths finish early and are compacted away; float16-free, so tokens must match exactly and log-probs to 1e-4.
  assert.equal(engine.model.kvStep, true, "the project's own graph has kv_step outputs");
  const reqs = prompts.map((prompt, i) => ({ prompt, options: opts({ n: 3, seed: 70 + i, maxTokens: [80, 5, 41, 60][i]!, temperature: 1 }) }));
  const viaPresent = await openOnnxEngine({ modelDir, threads: 1, kvStep: false });
  try {
    assert.equal(viaPresent.model.kvStep, false);
    const [own, present] = [await engine.generate(reqs), await viaPresent.generate(reqs)];
    let worst = 0;
    own.forEach((cs, i) => cs.forEach((c, s) => {
      const p = present[i]![s]!;
      assert.deepEqual(c.ids, p.ids, `request ${i} sample ${s}`);
      c.tokenLogprobs.forEach((lp, t) => { worst = Math.max(worst, Math.abs(lp - p.tokenLogprobs[t]!)); });
    }));
    assert.ok(worst < 1e-4, `max |log-prob difference| = ${worst}`);
    assert.ok(own.flat().some((c) => c.tokens > 40), 'some sample outgrew the first capacity');
  } finally { await viaPresent.close(); }
});

test('rows that finish early (other max_tokens) leave the rest of the batch unchanged; preallocated and copied outputs agree', async () => {
  // Requests with different lengths finish at different steps, so finished rows ride along and are later dropped.
  const reqs = prompts.map((prompt, i) => ({ prompt, options: opts({ n: 4, seed: 40 + i, maxTokens: [3, 25, 9, 17][i]!, temperature: 0.9 }) }));
  const together = await engine.generate(reqs);
  const copying = await openOnnxEngine({ modelDir, threads: 1, bindOutputs: false });
  try {
    const copied = await copying.generate(reqs);
    assert.deepEqual(copied.map((cs) => cs.map((c) => c.ids)), together.map((cs) => cs.map((c) => c.ids)));
  } finally { await copying.close(); }
  let same = 0, total = 0;
  for (const [i, r] of reqs.entries()) {
    const [alone] = await engine.generate([r]);
    alone!.forEach((c, s) => { total++; if (c.text === together[i]![s]!.text) same++; });
    together[i]!.forEach((c) => assert.equal(c.tokens, r.options.maxTokens));
  }
  assert.ok(same / total >= 0.99, `${total - same} of ${total} differ`);
});
