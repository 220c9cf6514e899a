/**
 * The embedded engine's throughput on two models this project makes: tiny (2 layers, hidden 64)
 * and small (8 layers, hidden 512), same folder, prompts and settings for every contender, on two
 * workloads: `pipeline`, the prompts the sample stage sends (the posterior prompt P(x, y') with the
 * paper's system prompt, MATH-500 questions and their answers as hints: ~500-600 tokens), and
 * `short`, four one-line prompts (11-24 tokens). BENCH_ENGINE_WORKLOADS picks (default both).
 * The models' tokenizer learns 2,000 merges from MATH-500 text (the bundled toy task's where the
 * shared data is absent), so prompts are about as long in tokens as with a real tokenizer.
 * - generation: vrdata, n = 8 samples per prompt, 128 new tokens, against transformers.js
 *   generate on the same prompts each repeated 8 times (it ignores num_return_sequences when
 *   sampling), do_sample, min/max_new_tokens 128, top_k 0. Goal: >= 3x transformers.js.
 * - scoring: vrdata score of the generated (prompt, continuation) pairs against ONE bare
 *   onnxruntime forward pass over the same tokens (right-padded batch, same session options).
 *   Goal: >= 0.9 of the bare forward.
 * Both use the same intra-op threads (BENCH_ENGINE_THREADS, default 1: the CI machine has 2
 * shared cores). Contenders run alternately, BENCH_ENGINE_REPEATS runs each (default 3) after a
 * warm-up; the ratio of best times and the ratio of median times are both printed, with the load
 * average, because a shared machine's load shifts under the benchmark.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { env, AutoModelForCausalLM, AutoTokenizer } from '@huggingface/transformers';
import { initModelFolder } from '../src/model/folder.js';
import { openOnnxEngine } from '../src/engines/onnx/engine.js';
import { DEFAULT_GENERATE_OPTIONS } from '../src/engines/types.js';
import { renderTemplate } from '../src/stages/templates.js';

const THREADS = Number(process.env.BENCH_ENGINE_THREADS ?? 1);
const REPEATS = Number(process.env.BENCH_ENGINE_REPEATS ?? 3);
const N = 8, NEW_TOKENS = 128;
const MERGES = 2000;
const SHORT_PROMPTS = [
  'Question: what is 17 * 23? Think step by step.',
  'Solve for x: 3x + 5 = 20.',
  'The quick brown fox jumps over the lazy dog because',
  'Write a short proof that the square root of 2 is irrational.',
];
const MATH500 = fileURLToPath(new URL('../../shared/data/eval/math500.jsonl', import.meta.url));
const TOY = fileURLToPath(new URL('../data/toy/arith.jsonl', import.meta.url));

/** Questions with answers: MATH-500 where the shared data is present, else the bundled toy task. */
function questions(): { question: string; answer: string; text: string }[] {
  if (existsSync(MATH500)) {
    return readFileSync(MATH500, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { problem: string; solution: string; answer: string })
      .map((r) => ({ question: r.problem, answer: r.answer, text: `${r.problem}\n${r.solution}` }));
  }
  return readFileSync(TOY, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { conversations: { value: string }[] })
    .map((r) => {
      const [q, a] = r.conversations.map((c) => c.value) as [string, string];
      return { question: q, answer: /\\boxed\{([^}]*)\}/.exec(a)?.[1] ?? '', text: `${q}\n${a}` };
    });
}

interface Timed<T> { best: number; median: number; value: T }

/** Runs two contenders alternately (the machine's load shifts; alternation keeps it fair) after a warm-up of each; best and median seconds of each. */
async function race<A, B>(a: () => Promise<A>, b: () => Promise<B>): Promise<{ a: Timed<A>; b: Timed<B> }> {
  let va = await a(), vb = await b();
  const ta: number[] = [], tb: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    let t0 = performance.now();
    va = await a();
    ta.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    vb = await b();
    tb.push((performance.now() - t0) / 1000);
  }
  const stat = (t: number[]) => { const s = [...t].sort((x, y) => x - y); return { best: s[0]!, median: s[s.length >> 1]! }; };
  return { a: { ...stat(ta), value: va }, b: { ...stat(tb), value: vb } };
}

async function benchModel(label: string, dir: string, prompts: string[]): Promise<void> {
  const PROMPTS = prompts;
  const engine = await openOnnxEngine({ modelDir: dir, threads: THREADS, maxBatchRows: PROMPTS.length * N });
  const sessionOptions = { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const, extra: { session: { intra_op: { allow_spinning: '0' } } } };
  try {
    // Generation: vrdata.
    const requests = PROMPTS.map((prompt, i) => ({ prompt, options: { ...DEFAULT_GENERATE_OPTIONS, n: N, seed: 1000 * i, maxTokens: NEW_TOKENS } }));
    // Generation: transformers.js on the same folder, prompts repeated N times.
    env.allowRemoteModels = false;
    env.localModelPath = dir.slice(0, dir.lastIndexOf('/'));
    const name = dir.slice(dir.lastIndexOf('/') + 1);
    const peer = await AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32', device: 'cpu', session_options: sessionOptions });
    const tok = await AutoTokenizer.from_pretrained(name);
    tok.padding_side = 'left';
    const inputs = tok(PROMPTS.flatMap((p) => new Array<string>(N).fill(p)), { padding: true });
    const gen = await race(() => engine.generate(requests), () => peer.generate({ ...inputs, do_sample: true, top_k: 0, max_new_tokens: NEW_TOKENS, min_new_tokens: NEW_TOKENS }));
    const ours = gen.a, theirs = gen.b;
    const ourTokens = ours.value.flat().reduce((s, c) => s + c.tokens, 0);
    const promptLengths = await Promise.all(PROMPTS.map(async (p) => (await engine.tokenize(p)).length));
    console.log(`engine ${label}: prompts of ${promptLengths.join(', ')} tokens`);
    const theirTokens = PROMPTS.length * N * NEW_TOKENS;
    await peer.dispose();

    // Scoring: vrdata score of the generated pairs vs one bare forward over the same tokens.
    const pairs = ours.value.flatMap((cs, i) => cs.map((c) => ({ prompt: PROMPTS[i]!, continuation: c.text })));
    const seqs: number[][] = [];
    for (const p of pairs) seqs.push([...await engine.tokenize(p.prompt), ...await engine.tokenize(p.continuation)]);
    const tokens = seqs.reduce((s, q) => s + q.length, 0);
    const L = Math.max(...seqs.map((q) => q.length)), B = seqs.length;
    const bare = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'), sessionOptions);
    const { layers, kvHeads, headDim } = engine.model;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(seqs.flatMap((q) => Array.from({ length: L }, (_, j) => BigInt(q[j] ?? 0)))), [B, L]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(seqs.flatMap((q) => Array.from({ length: L }, (_, j) => (j < q.length ? 1n : 0n)))), [B, L]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(seqs.flatMap(() => Array.from({ length: L }, (_, j) => BigInt(j)))), [B, L]),
    };
    for (let i = 0; i < layers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [B, kvHeads, 0, headDim]);
    const sc = await race(() => engine.score(pairs), () => bare.run(feeds));
    const scored = sc.a, fwd = sc.b;
    await bare.release();
    const rate = (n: number, s: number): string => (n / s).toFixed(0);
    console.log(`engine ${label}: generation vrdata ${rate(ourTokens, ours.best)} tok/s best, ${rate(ourTokens, ours.median)} median (${ourTokens} tokens) vs transformers.js ${rate(theirTokens, theirs.best)} best, ${rate(theirTokens, theirs.median)} median (${theirTokens} tokens): ` +
      `ratio ${((ourTokens / ours.best) / (theirTokens / theirs.best)).toFixed(2)}x best, ${((ourTokens / ours.median) / (theirTokens / theirs.median)).toFixed(2)}x median (goal >= 3)`);
    console.log(`engine ${label}: scoring vrdata score ${rate(tokens, scored.best)} tok/s best, ${rate(tokens, scored.median)} median (${tokens} tokens, ${B} pairs) vs bare onnxruntime forward ${rate(tokens, fwd.best)} best, ${rate(tokens, fwd.median)} median: ` +
      `ratio ${(fwd.best / scored.best).toFixed(2)} best, ${(fwd.median / scored.median).toFixed(2)} median (goal >= 0.9); load average ${loadavg()[0]!.toFixed(1)}`);
  } finally {
    await engine.close();
  }
}

/**
 * The workloads: `pipeline` is what the sample stage sends (the posterior prompt P(x, y') with its
 * long system prompt, over MATH-500 questions and their answers as hints), `short` four one-line prompts.
 */
function workloads(all: ReturnType<typeof questions>): Record<string, string[]> {
  const qs = all.slice(0, SHORT_PROMPTS.length);
  return {
    pipeline: qs.map((q) => renderTemplate('posterior_a', { question: q.question, hint: q.answer })),
    short: SHORT_PROMPTS,
  };
}

/** Runs the engine benchmark on a tiny and a small model; prints ratios against transformers.js and a bare forward pass. */
export async function run(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'vrdata-bench-engine-'));
  const chosen = (process.env.BENCH_ENGINE_WORKLOADS ?? 'pipeline,short').split(',');
  const qs = questions();
  const all = workloads(qs);
  // A tokenizer learned from text of the kind it will read (as real ones are), not byte-level: prompt lengths in tokens
  // then resemble a real model's (the R(x) system prompt is ~300 tokens with Qwen's tokenizer).
  const mergesCorpus = qs.map((q) => q.text).join('\n');
  try {
    console.log(`engine: threads ${THREADS}, ${SHORT_PROMPTS.length} prompts x n=${N}, ${NEW_TOKENS} new tokens, ${REPEATS} alternating runs each; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const models: [string, Parameters<typeof initModelFolder>[0]][] = [
      ['tiny (2 layers, hidden 64)', { out: join(root, 'tiny'), layers: 2, hidden: 64, heads: 4, kvHeads: 2, seed: 1, mergesCorpus, merges: MERGES }],
    ];
    if (process.env.BENCH_ENGINE_SKIP_SMALL !== '1') {
      models.push(['small (8 layers, hidden 512)', { out: join(root, 'small'), layers: 8, hidden: 512, heads: 8, kvHeads: 4, seed: 1, mergesCorpus, merges: MERGES }]);
    }
    for (const [label, init] of models) {
      const { vocabSize } = await initModelFolder(init);
      for (const name of chosen) {
        const prompts = all[name];
        if (!prompts) throw new Error(`BENCH_ENGINE_WORKLOADS: unknown workload ${name}; use pipeline, short`);
        await benchModel(`${label}, vocabulary ${vocabSize}, ${name} prompts`, init.out, prompts);
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
