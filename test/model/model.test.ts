// The model maker: graph builder, the Qwen3 definition (checked against an independent numpy
// implementation), KV-cache equivalence on onnxruntime, weights I/O, the tokenizer.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import fc from 'fast-check';
import { Tokenizer } from '@huggingface/tokenizers';
import { GraphBuilder } from '../../src/model/graph.js';
import { buildDecoder, qwen3Config, KV_STEP, type Qwen3Config } from '../../src/model/qwen3.js';
import onnxProto from 'onnx-proto';
import { initWeights, readOnnxWeights } from '../../src/model/weights.js';
import { initModelFolder, readModelFolder, MODEL_FILES } from '../../src/model/folder.js';
import { openOnnxEngine } from '../../src/engines/onnx/engine.js';
import { DEFAULT_GENERATE_OPTIONS } from '../../src/engines/types.js';
import { learnMerges, makeTokenizer, MARKER_TOKENS, SPECIAL_TOKENS } from '../../src/model/tokenizer.js';

const root = mkdtempSync(join(tmpdir(), 'vrdata-model-'));
const modelDir = join(root, 'tiny');
const corpus = 'The cat sat on the mat. The answer is 42. <|begin_of_thought|> think step by step <|end_of_thought|> the the the hello world. '.repeat(20);
let config: Qwen3Config;
let session: ort.InferenceSession;
const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };

before(async () => {
  // GQA (4 query heads on 2 kv heads), head_dim 16, untied head: every path of the definition.
  ({ config } = await initModelFolder({ out: modelDir, layers: 2, hidden: 48, heads: 4, kvHeads: 2, headDim: 16, intermediate: 96, seed: 7, initStd: 0.3, mergesCorpus: corpus, merges: 40, tie: false }));
  session = await ort.InferenceSession.create(join(modelDir, MODEL_FILES.onnx), opts);
});

const i64 = (v: number[], dims: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), dims);
const emptyPast = (c: Qwen3Config, batch: number): Record<string, ort.Tensor> => {
  const f: Record<string, ort.Tensor> = {};
  for (let i = 0; i < c.num_hidden_layers; i++) for (const kv of ['key', 'value']) f[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [batch, c.num_key_value_heads, 0, c.head_dim]);
  return f;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const ids = [3, 77, 120, 5, 260, 31, 99, 150, 7, 64, 200, 11];

async function fullLogits(seq: number[]): Promise<Float32Array> {
  const out = await session.run({ input_ids: i64(seq, [1, seq.length]), attention_mask: i64(seq.map(() => 1), [1, seq.length]), position_ids: i64(seq.map((_, j) => j), [1, seq.length]), ...emptyPast(config, 1) });
  return out.logits!.data as Float32Array;
}

test('the cached decode path gives the logits of a full forward pass (1e-4)', async () => {
  const V = config.vocab_size;
  const full = await fullLogits(ids);
  // Prefill 5 tokens, then feed the rest one at a time through the cache.
  let feeds: Record<string, ort.Tensor> = emptyPast(config, 1);
  let pos = 0;
  const steps = [ids.slice(0, 5), ...ids.slice(5).map((t) => [t])];
  let worst = 0;
  for (const chunk of steps) {
    const end = pos + chunk.length;
    const out = await session.run({ ...feeds, input_ids: i64(chunk, [1, chunk.length]), attention_mask: i64(new Array(end).fill(1), [1, end]), position_ids: i64(chunk.map((_, j) => pos + j), [1, chunk.length]) });
    const got = out.logits!.data as Float32Array;
    worst = Math.max(worst, maxAbsDiff(got, full.subarray(pos * V, end * V)));
    feeds = {};
    for (let i = 0; i < config.num_hidden_layers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = out[`present.${i}.${kv}`]!;
    pos = end;
  }
  assert.ok(worst < 1e-4, `cached vs full: max |diff| ${worst}`);
  // The check can fail: a different last token changes the logits.
  const other = await fullLogits([...ids.slice(0, -1), 1]);
  assert.ok(maxAbsDiff(other.subarray(-V), full.subarray(-V)) > 1e-3);
});

test('left padding with attention_mask 0 leaves a row\'s logits unchanged', async () => {
  const V = config.vocab_size;
  const full = await fullLogits(ids);
  const pad = 3, L = ids.length;
  const out = await session.run({ input_ids: i64([0, 0, 0, ...ids], [1, L + pad]), attention_mask: i64([0, 0, 0, ...ids.map(() => 1)], [1, L + pad]), position_ids: i64([0, 0, 0, ...ids.map((_, j) => j)], [1, L + pad]), ...emptyPast(config, 1) });
  const got = (out.logits!.data as Float32Array).subarray(pad * V);
  assert.ok(maxAbsDiff(got, full) < 1e-4);
});

test('the training variant (kvCache: false) computes the same logits as the inference graph', async () => {
  const { weights } = await readModelFolder(modelDir);
  const g = new GraphBuilder();
  buildDecoder(g, config, { kvCache: false });
  assert.ok(g.nodes.every((n) => n.inputs.length > 0 || n.opType === 'Constant'));
  assert.ok(!g.inputs.some((i) => i.name.startsWith('past_key_values')));
  const s = await ort.InferenceSession.create(g.toBytes({ weights }), opts);
  const out = await s.run({ input_ids: i64(ids, [1, ids.length]), attention_mask: i64(ids.map(() => 1), [1, ids.length]), position_ids: i64(ids.map((_, j) => j), [1, ids.length]) });
  assert.ok(maxAbsDiff(out.logits!.data as Float32Array, await fullLogits(ids)) < 1e-5);
  await s.release();
});

test('logits agree with an independent numpy implementation of Qwen3 (1e-4)', async () => {
  const { weights } = await readModelFolder(modelDir);
  // Weights to a flat file with a JSON index; numpy re-implements the Hugging Face modeling code.
  const index: Record<string, [number, number]> = {};
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, w] of weights) { index[name] = [offset, w.length]; parts.push(Buffer.from(w.buffer, w.byteOffset, w.byteLength)); offset += w.length; }
  writeFileSync(join(root, 'w.bin'), Buffer.concat(parts));
  writeFileSync(join(root, 'w.json'), JSON.stringify({ index, config, ids }));
  const py = `
import json, numpy as np, sys
root = sys.argv[1]
meta = json.load(open(root + '/w.json')); c = meta['config']; flat = np.fromfile(root + '/w.bin', dtype=np.float32)
W = lambda n: flat[meta['index'][n][0]: meta['index'][n][0] + meta['index'][n][1]].astype(np.float64)
D, H, KV, hd, I, V = c['hidden_size'], c['num_attention_heads'], c['num_key_value_heads'], c['head_dim'], c['intermediate_size'], c['vocab_size']
ids = np.array(meta['ids']); S = len(ids)
def rms(x, w): return x / np.sqrt((x * x).mean(-1, keepdims=True) + c['rms_norm_eps']) * w
inv = 1.0 / (c['rope_theta'] ** (np.arange(0, hd, 2) / hd)); ang = np.outer(np.arange(S), inv); ang = np.concatenate([ang, ang], -1)
cos, sin = np.cos(ang), np.sin(ang)
def rope(x):  # x [heads, S, hd]
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    return x * cos + np.concatenate([-x2, x1], -1) * sin
h = W('model.embed_tokens.weight').reshape(V, D)[ids]
for i in range(c['num_hidden_layers']):
    p = f'model.layers.{i}.'
    x = rms(h, W(p + 'input_layernorm.weight'))
    q = (x @ W(p + 'self_attn.q_proj.weight').reshape(H * hd, D).T).reshape(S, H, hd)
    k = (x @ W(p + 'self_attn.k_proj.weight').reshape(KV * hd, D).T).reshape(S, KV, hd)
    v = (x @ W(p + 'self_attn.v_proj.weight').reshape(KV * hd, D).T).reshape(S, KV, hd)
    q = rope(rms(q, W(p + 'self_attn.q_norm.weight')).transpose(1, 0, 2))
    k = rope(rms(k, W(p + 'self_attn.k_norm.weight')).transpose(1, 0, 2))
    v = v.transpose(1, 0, 2)
    k = np.repeat(k, H // KV, axis=0); v = np.repeat(v, H // KV, axis=0)
    s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + np.triu(np.full((S, S), -np.inf), 1)
    a = np.exp(s - s.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
    o = (a @ v).transpose(1, 0, 2).reshape(S, H * hd)
    h = h + o @ W(p + 'self_attn.o_proj.weight').reshape(D, H * hd).T
    y = rms(h, W(p + 'post_attention_layernorm.weight'))
    g = y @ W(p + 'mlp.gate_proj.weight').reshape(I, D).T
    u = y @ W(p + 'mlp.up_proj.weight').reshape(I, D).T
    h = h + (g / (1 + np.exp(-g)) * u) @ W(p + 'mlp.down_proj.weight').reshape(D, I).T
h = rms(h, W('model.norm.weight'))
head = 'model.embed_tokens.weight' if c['tie_word_embeddings'] else 'lm_head.weight'
(h @ W(head).reshape(V, D).T).astype(np.float32).tofile(root + '/ref.bin')
`;
  const r = spawnSync('python3', ['-c', py, root], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ref = new Float32Array(readFileSync(join(root, 'ref.bin')).buffer.slice(0));
  const got = await fullLogits(ids);
  const diff = maxAbsDiff(got, ref);
  assert.ok(diff < 1e-4, `onnx vs numpy: max |diff| ${diff}`);
  assert.ok(Math.max(...Array.from(ref, Math.abs)) > 0.5, 'logits are not trivially small');
});

test('weights read back from model.onnx equal the seeded initial weights; same seed, same weights', async () => {
  const { weights: back } = await readModelFolder(modelDir);
  assert.ok((await readOnnxWeights(join(modelDir, MODEL_FILES.onnx))).size > back.size, 'the raw reader also sees graph constants');
  const init = initWeights(config, { seed: 7, std: 0.3 });
  assert.equal(back.size, init.size);
  for (const [name, w] of init) assert.deepEqual(back.get(name), w, name);
  assert.ok(back.has('lm_head.weight') && back.has('model.layers.1.self_attn.k_norm.weight'));
  const other = initWeights(config, { seed: 8, std: 0.3 });
  assert.notDeepEqual(other.get('model.embed_tokens.weight'), init.get('model.embed_tokens.weight'));
});

test('config.json is a Hugging Face Qwen3 config', () => {
  const c = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'intermediate_size', 'rms_norm_eps', 'rope_theta', 'tie_word_embeddings', 'max_position_embeddings']) assert.ok(k in c, k);
  assert.equal(c.model_type, 'qwen3');
  assert.throws(() => qwen3Config({ vocabSize: 10, hidden: 8, layers: 1, heads: 3, kvHeads: 2, headDim: 4 }), /multiple of num_key_value_heads/);
});

test('tokenizer: any text round-trips; markers are single ids; text cut inside a marker still tokenizes', () => {
  const made = makeTokenizer({ merges: learnMerges(corpus, 40) });
  const tok = new Tokenizer(made.tokenizerJson, made.tokenizerConfig);
  const enc = (s: string): number[] => tok.encode(s, { add_special_tokens: false }).ids;
  const dec = (ids: number[]): string => (ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => dec(enc(s)) === s), { numRuns: 300 });
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !/\p{Surrogate}/u.test(s)), (s) => dec(enc(s)) === s), { numRuns: 300 });
  for (const t of [...SPECIAL_TOKENS, ...MARKER_TOKENS]) assert.deepEqual(enc(t), [made.ids[t]], t);
  assert.ok(enc('the cat').length < new TextEncoder().encode('the cat').length, 'merges shorten text');
  const trace = 'so x = 4 <|end_of_thought|> <|begin_of_solution|> 4 <|end_of_solution|>';
  const cut = trace.indexOf('<|end_of') + '<|end_of'.length;
  assert.equal(dec(enc(trace.slice(0, cut))), trace.slice(0, cut));
  assert.equal(dec(enc(trace.slice(cut))), trace.slice(cut));
  assert.ok(!enc(trace.slice(cut)).includes(made.ids['<|end_of_thought|>']!));
  // Markers survive skip_special_tokens; chat tokens do not.
  const text = tok.decode(enc('<|im_start|>a<|begin_of_thought|>b'), { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  assert.equal(text, 'a<|begin_of_thought|>b');
});

test('`vrdata model init` writes a loadable folder and rejects bad flags with exit 2', () => {
  const out = join(root, 'cli');
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
  const ok = cli(['model', 'init', '--out', out, '--layers', '1', '--hidden', '32', '--heads', '2', '--kv-heads', '1', '--seed', '3']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /qwen3, 1 layers/);
  const c = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { num_hidden_layers: number };
  assert.equal(c.num_hidden_layers, 1);
  const bad = cli(['model', 'init', '--out', out, '--heads', '3', '--kv-heads', '2']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /multiple of --kv-heads/);
});

test('`vrdata model rebuild` gives a folder made before the kv_step outputs the current graph: same weights, same samples', async () => {
  // A copy of the shipped pi0 made to look as folders written before kv_step existed: without those outputs.
  const dir = join(root, 'pi0-copy');
  cpSync('data/models/pi0', dir, { recursive: true });
  const proto = onnxProto.onnx.ModelProto.decode(readFileSync(join(dir, MODEL_FILES.onnx)));
  const isStep = (name: string | null | undefined) => String(name).startsWith(`${KV_STEP}.`);
  proto.graph!.output = proto.graph!.output!.filter((o) => !isStep(o.name));
  proto.graph!.node = proto.graph!.node!.filter((n) => !(n.output ?? []).some(isStep));
  writeFileSync(join(dir, MODEL_FILES.onnx), onnxProto.onnx.ModelProto.encode(proto).finish());
  const before = await readOnnxWeights(join(dir, MODEL_FILES.onnx));
  const reqs = ['Start with 7. Add 2. What is the result?', 'Start with 3. Multiply by 4, then add 1. What is the result?']
    .map((prompt, i) => ({ prompt, options: { ...DEFAULT_GENERATE_OPTIONS, n: 4, seed: 5 + i, maxTokens: 48 } }));
  const old = await openOnnxEngine({ modelDir: dir, threads: 1 });
  const oldOut = await old.generate(reqs);
  assert.equal(old.model.kvStep, false, 'the old-style folder has no kv_step');
  await old.close();
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'model', 'rebuild', dir], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /rebuilt .*weights unchanged/);
  const after = await readOnnxWeights(join(dir, MODEL_FILES.onnx));
  for (const [name, w] of before) if (after.has(name) && name.startsWith('model.')) assert.deepEqual(after.get(name), w, name);
  const rebuilt = await openOnnxEngine({ modelDir: dir, threads: 1 });
  try {
    assert.equal(rebuilt.model.kvStep, true);
    const newOut = await rebuilt.generate(reqs);
    let same = 0;
    newOut.flat().forEach((c, k) => { if (c.text === oldOut.flat()[k]!.text) same++; });
    assert.ok(same >= 7, `${same} of 8 samples unchanged (float noise may flip a near-tie)`);
  } finally { await rebuilt.close(); }
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'model', 'rebuild', join(root, 'nowhere')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /nowhere/);
});
