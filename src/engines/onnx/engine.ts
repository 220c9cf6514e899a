/**
 * The embedded engine: onnxruntime-node running a decoder in the Hugging Face ONNX layout.
 *
 * Generation: each prompt is prefilled once (batch 1, in chunks), its KV cache is copied to its n
 * sample rows, and rows of several prompts decode together (left-padded caches). Each sample draws
 * from its own generator seeded with seed + sample index, and the prefill never depends on the
 * batch, so a sample is the same whatever batch it runs in (up to float noise in batched matmuls).
 * The batch's cache: on graphs with kv_step outputs (this project's own), one fixed-capacity buffer
 * the engine writes each step's keys and values into (kvcache.ts AppendCache; the loader drops
 * present, whose Concat would copy the whole cache every step); on other exports, present is read
 * back into preallocated buffers (BatchCache).
 * Scoring: prompt + continuation (tokenized separately, so the cut between them is a token
 * boundary) in right-padded batches bounded by a token budget, long sequences in cached chunks.
 * One call runs at a time per engine; KV caches live only as long as their batch.
 */
import * as ort from 'onnxruntime-node';
import type { Completion, Engine, FinishReason, GenerateOptions, GenerateRequest, ScoreRequest, ScoreResult } from '../types.js';
import { VrdataError, usageError } from '../../util/errors.js';
import { Rng } from '../../model/rng.js';
import { loadModelFolder, type LoadedModel, type SessionOptions } from './loader.js';
import { logSumExp, sampleToken } from './sampler.js';
import { byteTable, CompletionText } from './text.js';
import { AppendCache, BatchCache, type KvData } from './kvcache.js';
import { KV_STEP } from '../../model/qwen3.js';
import { DEFAULT_BATCH_ROWS, planBatches } from './batching.js';
import { SCORE_OUTPUTS } from './scoregraph.js';

/** Options of the embedded engine. */
export interface OnnxEngineOptions extends SessionOptions {
  modelDir: string;
  /** Sample rows decoded together (default DEFAULT_BATCH_ROWS, 64). */
  maxBatchRows?: number;
  /** Tokens per prefill pass; longer prompts are prefilled in chunks (default 512). */
  prefillChunk?: number;
  /** Padded tokens per scoring batch (default 16384; logitsBudgetBytes bounds memory for large vocabularies). */
  scoreTokenBudget?: number;
  /** Bytes of float32 logits one forward pass may produce; bounds chunk sizes for large vocabularies (default 256 MiB). */
  logitsBudgetBytes?: number;
  /** false: decode lets onnxruntime allocate its outputs and copies them (what an export that refuses preallocated outputs gets; default true). */
  bindOutputs?: boolean;
}

/** Counters since the engine opened; tokens/s = tokens / seconds. */
export interface EngineStats {
  promptTokens: number;
  generatedTokens: number;
  generateSeconds: number;
  scoredTokens: number;
  scoreSeconds: number;
  forwardPasses: number;
}

/** A completion with the sampled token ids (this engine knows them; text may not re-tokenize to them). */
export interface OnnxCompletion extends Completion {
  ids: number[];
  tokenLogprobs: number[];
}

interface Forward {
  logits: Float32Array;
  /** Positions per row in `logits` (1 when only the last was kept). */
  positions: number;
  vocab: number;
  present: ort.Tensor[];
}

interface Row {
  req: number;
  sample: number;
  promptLen: number;
  rng: Rng;
  text: CompletionText;
  generated: number;
  logprob: number;
  tokenLogprobs: number[];
  last: number;
  ids: number[];
  done: boolean;
  finish: FinishReason;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

let f16Table: Float32Array | null = null;
/** float16 bits -> float32 through a 64K-entry table (a per-element function call is ~10x slower on a 150K vocabulary). */
function f16Array(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  if (!f16Table) { f16Table = new Float32Array(65536); for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h); }
  for (let i = 0; i < src.length; i++) dst[i] = f16Table[src[i]!]!;
  return dst;
}

function int64(values: ArrayLike<number> | BigInt64Array, dims: number[]): ort.Tensor {
  if (values instanceof BigInt64Array) return new ort.Tensor('int64', values, dims);
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return new ort.Tensor('int64', data, dims);
}

function logitsData(t: ort.Tensor): Float32Array {
  return t.type === 'float16' ? f16Array(t.data as Uint16Array) : (t.data as Float32Array);
}

function presentOf(out: ort.InferenceSession.ReturnType, layers: number): ort.Tensor[] {
  const present: ort.Tensor[] = [];
  for (let i = 0; i < layers; i++) present.push(out[`present.${i}.key`]!, out[`present.${i}.value`]!);
  return present;
}

/** past ++ step along the sequence axis of [B, kvHeads, T, headDim] tensors (what a present output holds). */
function concatColumns(past: ort.Tensor, step: ort.Tensor): ort.Tensor {
  const [B, H, Tp, D] = past.dims as [number, number, number, number];
  if (Tp === 0) return step;
  const S = step.dims[2]!, src = past.data as KvData, add = step.data as KvData;
  const out = src instanceof Uint16Array ? new Uint16Array(B * H * (Tp + S) * D) : new Float32Array(B * H * (Tp + S) * D);
  for (let bh = 0; bh < B * H; bh++) {
    out.set(src.subarray(bh * Tp * D, (bh + 1) * Tp * D), bh * (Tp + S) * D);
    out.set(add.subarray(bh * S * D, (bh + 1) * S * D), (bh * (Tp + S) + Tp) * D);
  }
  return new ort.Tensor(past.type as 'float32' | 'float16', out, [B, H, Tp + S, D]);
}

/** Copies the last position's logits of each row of a run's own `logits` output into `dst` ([B, V]). */
function copyLogits(out: ort.InferenceSession.ReturnType, dst: Float32Array | Uint16Array): void {
  const lt = out.logits!, [B, S, V] = lt.dims as [number, number, number];
  const src = lt.data as Float32Array | Uint16Array;
  for (let b = 0; b < B; b++) dst.set(src.subarray((b * S + S - 1) * V, (b * S + S) * V), b * V);
}

/** The onnxruntime engine; see the module comment. */
export class OnnxEngine implements Engine {
  readonly id: string;
  readonly stats: EngineStats = { promptTokens: 0, generatedTokens: 0, generateSeconds: 0, scoredTokens: 0, scoreSeconds: 0, forwardPasses: 0 };
  private readonly table: (Uint8Array | null)[] | null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly maxRows: number;
  private readonly prefillChunk: number;
  private readonly scoreBudget: number;
  private readonly logitsBudget: number;
  /** Decode steps write logits and present into preallocated buffers, unless the export refuses them (checked on first use). */
  private bindOutputs: boolean;
  private bindChecked = false;
  private readonly cacheOutputs: string[];

  constructor(readonly model: LoadedModel, options: Omit<OnnxEngineOptions, 'modelDir'> = {}) {
    this.id = `onnx:${model.dir}@${model.hash}`;
    this.table = byteTable(model.tokenizerJson, model.tokenizer);
    this.maxRows = Math.max(1, options.maxBatchRows ?? DEFAULT_BATCH_ROWS);
    this.prefillChunk = Math.max(1, options.prefillChunk ?? 512);
    this.scoreBudget = Math.max(1, options.scoreTokenBudget ?? 16384);
    this.logitsBudget = options.logitsBudgetBytes ?? 256 * 2 ** 20;
    this.bindOutputs = options.bindOutputs ?? true;
    // The cache outputs a pass fetches: present (past ++ new) or, on graphs with kv_step, the new columns alone.
    const cacheOut = model.kvStep ? KV_STEP : 'present';
    this.cacheOutputs = [];
    for (let i = 0; i < model.layers; i++) this.cacheOutputs.push(`${cacheOut}.${i}.key`, `${cacheOut}.${i}.value`);
  }

  /** Runs calls one at a time: bounded memory, and onnxruntime's threads are not oversubscribed. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new VrdataError('engine', `${this.id} is closed; open a new engine`));
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async tokenize(text: string): Promise<number[]> {
    return this.model.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Tokens per second of generation and of scoring so far. */
  throughput(): { generate: number; score: number } {
    const s = this.stats;
    return { generate: s.generateSeconds > 0 ? s.generatedTokens / s.generateSeconds : 0, score: s.scoreSeconds > 0 ? s.scoredTokens / s.scoreSeconds : 0 };
  }

  private emptyPast(batch: number): ort.Tensor[] {
    const { layers, kvHeads, headDim, kvType } = this.model;
    const out: ort.Tensor[] = [];
    for (let i = 0; i < 2 * layers; i++) {
      out.push(new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [batch, kvHeads, 0, headDim]));
    }
    return out;
  }

  /** Feeds of one forward pass: ids [B, S], mask [B, past+S], positions [B, S]; keepLast asks for the last position's logits only where the export can. */
  private feeds(a: { ids: ArrayLike<number> | BigInt64Array; batch: number; mask: ArrayLike<number> | BigInt64Array; positions: ArrayLike<number> | BigInt64Array; past: ort.Tensor[]; keepLast: boolean }): Record<string, ort.Tensor> {
    const S = a.ids.length / a.batch;
    const m = this.model;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(a.ids, [a.batch, S]),
      attention_mask: int64(a.mask, [a.batch, a.mask.length / a.batch]),
    };
    if (m.hasPositionIds) feeds.position_ids = int64(a.positions, [a.batch, S]);
    for (let i = 0; i < m.layers; i++) {
      feeds[`past_key_values.${i}.key`] = a.past[2 * i]!;
      feeds[`past_key_values.${i}.value`] = a.past[2 * i + 1]!;
    }
    if (m.logitsToKeep) feeds[m.logitsToKeep] = new ort.Tensor('int64', BigInt64Array.from([a.keepLast ? 1n : 0n]), []);
    if (m.hasUseCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.from([a.past[0]!.dims[2]! > 0 ? 1 : 0]), [1]);
    return feeds;
  }

  /** Runs the session; `fetches` names outputs or gives preallocated output tensors (default: all outputs). */
  private async run(feeds: Record<string, ort.Tensor>, fetches?: ort.InferenceSession.FetchesType): Promise<ort.InferenceSession.ReturnType> {
    const m = this.model;
    try {
      const out = fetches ? await m.session.run(feeds, fetches) : await m.session.run(feeds);
      this.stats.forwardPasses++;
      return out;
    } catch (err) {
      throw new VrdataError('engine', `onnxruntime failed on ${m.dir} (${(err as Error).message.split('\n')[0]}); the model's inputs may not match its config.json`, { cause: err });
    }
  }

  /** One forward pass with onnxruntime-allocated outputs (prefill, scoring, full logits). */
  private async forward(a: Parameters<OnnxEngine['feeds']>[0]): Promise<Forward> {
    const out = await this.run(this.feeds(a), ['logits', ...this.cacheOutputs]);
    const lt = out.logits!;
    return { logits: logitsData(lt), positions: lt.dims[1]!, vocab: lt.dims[2]!, present: this.cacheAfter(out, a.past) };
  }

  /** The cache after a pass: its present outputs, or past ++ kv_step built here (graphs whose present was dropped). */
  private cacheAfter(out: ort.InferenceSession.ReturnType, past: ort.Tensor[]): ort.Tensor[] {
    if (!this.model.kvStep) return presentOf(out, this.model.layers);
    return this.cacheOutputs.map((name, l) => concatColumns(past[l]!, out[name]!));
  }

  /** Prefills one prompt in chunks; returns its cache and the last position's logits. */
  private async prefill(ids: number[]): Promise<{ logits: Float32Array; vocab: number; past: ort.Tensor[] }> {
    let past = this.emptyPast(1);
    let last: Forward | null = null;
    const chunk = Math.max(1, Math.min(this.prefillChunk, Math.floor(this.logitsBudget / 4 / Math.max(1, this.model.vocabSize))));
    for (let start = 0; start < ids.length; start += chunk) {
      const part = ids.slice(start, start + chunk);
      const end = start + part.length;
      last = await this.forward({
        ids: part, batch: 1, mask: new Array<number>(end).fill(1), positions: part.map((_, j) => start + j), past, keepLast: true,
      });
      past = last.present;
    }
    const f = last!;
    const off = (f.positions - 1) * f.vocab;
    return { logits: f.logits.slice(off, off + f.vocab), vocab: f.vocab, past };
  }

  generate(requests: GenerateRequest[]): Promise<OnnxCompletion[][]> {
    return this.exclusive(() => this.generateNow(requests));
  }

  private async generateNow(requests: GenerateRequest[]): Promise<OnnxCompletion[][]> {
    const t0 = performance.now();
    const results: OnnxCompletion[][] = requests.map((r) => new Array<OnnxCompletion>(r.options.n));
    const prompts: number[][] = [];
    for (const [i, r] of requests.entries()) {
      checkOptions(r.options, i);
      const ids = await this.tokenize(r.prompt);
      if (ids.length === 0) throw usageError('engine', `generate: request ${i} has an empty prompt; the model needs at least one prompt token`);
      prompts.push(ids);
    }
    // Units of at most maxRows samples of one prompt, packed greedily into batches of maxRows rows.
    const batches: { req: number; from: number; to: number }[][] = [];
    let cur: { req: number; from: number; to: number }[] = [];
    let rows = 0;
    for (const [i, r] of requests.entries()) {
      if (r.options.maxTokens === 0) {
        for (let s = 0; s < r.options.n; s++) results[i]![s] = { text: '', finishReason: 'length', tokens: 0, logprob: 0, tokenLogprobs: [], ids: [] };
        continue;
      }
      for (let from = 0; from < r.options.n; from += this.maxRows) {
        const to = Math.min(r.options.n, from + this.maxRows);
        if (rows + (to - from) > this.maxRows && cur.length > 0) { batches.push(cur); cur = []; rows = 0; }
        cur.push({ req: i, from, to });
        rows += to - from;
      }
    }
    if (cur.length > 0) batches.push(cur);
    for (const batch of batches) await this.decodeBatch(batch, requests, prompts, results);
    this.stats.generateSeconds += (performance.now() - t0) / 1000;
    return results;
  }

  private async decodeBatch(units: { req: number; from: number; to: number }[], requests: GenerateRequest[], prompts: number[][], results: OnnxCompletion[][]): Promise<void> {
    const m = this.model;
    const prefills = new Map<number, { logits: Float32Array; vocab: number; past: ort.Tensor[] }>();
    for (const u of units) {
      if (!prefills.has(u.req)) {
        prefills.set(u.req, await this.prefill(prompts[u.req]!));
        this.stats.promptTokens += prompts[u.req]!.length;
      }
    }
    let rows: Row[] = [];
    for (const u of units) {
      const o = requests[u.req]!.options;
      for (let s = u.from; s < u.to; s++) {
        rows.push({
          req: u.req, sample: s, promptLen: prompts[u.req]!.length, rng: new Rng(o.seed + s),
          text: new CompletionText({ table: this.table, tok: m.tokenizer, stop: o.stop }),
          generated: 0, logprob: 0, tokenLogprobs: [], last: -1, ids: [], done: false, finish: 'length',
        });
      }
    }
    // Left-padded batch cache: row r's prompt occupies the last promptLen columns of T.
    const T0 = Math.max(...rows.map((r) => r.promptLen));
    const finalT = Math.min(T0 + Math.max(...rows.map((r) => requests[r.req]!.options.maxTokens)), m.maxPositions);
    const cache = m.kvStep ? new AppendCache(m, rows.length, T0, finalT) : new BatchCache(m, rows.length, T0, finalT);
    rows.forEach((r, b) => {
      const past = prefills.get(r.req)!.past;
      for (let l = 0; l < 2 * m.layers; l++) cache.writeRow(l, b, past[l]!.data as KvData, r.promptLen);
    });
    for (const r of rows) {
      const p = prefills.get(r.req)!;
      this.accept(r, p.logits, 0, p.vocab, requests[r.req]!.options, results);
    }
    prefills.clear(); // the per-prompt caches now live in `cache` only

    const V = m.vocabSize;
    const logitsBuf = m.logitsType === 'float16' ? new Uint16Array(rows.length * V) : new Float32Array(rows.length * V);
    const logits32 = logitsBuf instanceof Float32Array ? logitsBuf : new Float32Array(rows.length * V);
    let maskBuf = new BigInt64Array(0);
    for (;;) {
      let live = 0;
      for (const r of rows) if (!r.done) live++;
      if (live === 0) break;
      // Finished rows ride along (their outputs are ignored) until a quarter of the batch is
      // finished: dropping them costs a copy of the whole cache, keeping them a row of compute.
      if ((rows.length - live) * 4 >= rows.length) {
        const keep: number[] = [];
        rows.forEach((r, b) => { if (!r.done) keep.push(b); });
        cache.compact(keep);
        rows = keep.map((b) => rows[b]!);
      }
      // Mask columns: the past as fed (T filled columns, then AppendCache's unfilled ones), then this step's token.
      const B = rows.length, T = cache.T, W = cache.cols + 1;
      if (maskBuf.length < B * W) maskBuf = new BigInt64Array(B * W + B * 64);
      const mask = maskBuf.subarray(0, B * W);
      const ids = new BigInt64Array(B), positions = new BigInt64Array(B);
      rows.forEach((r, b) => {
        const pad = T - r.promptLen - (r.generated - 1);
        mask.fill(0n, b * W, b * W + pad);
        mask.fill(1n, b * W + pad, b * W + T);
        mask.fill(0n, b * W + T, (b + 1) * W - 1);
        mask[(b + 1) * W - 1] = 1n;
        ids[b] = BigInt(r.last);
        positions[b] = BigInt(r.promptLen + r.generated - 1);
      });
      const feeds = this.feeds({ ids, batch: B, mask, positions, past: cache.past(), keepLast: true });
      const logitsOut = new ort.Tensor(m.logitsType, logitsBuf.subarray(0, B * V), [B, 1, V]);
      if (cache instanceof AppendCache) {
        const fetches: Record<string, ort.Tensor | null> = { logits: this.bindOutputs ? logitsOut : null };
        for (let i = 0; i < m.layers; i++) fetches[`${KV_STEP}.${i}.key`] = fetches[`${KV_STEP}.${i}.value`] = null;
        const out = await this.run(feeds, fetches);
        if (out.logits!.data !== logitsOut.data) copyLogits(out, logitsBuf);
        const step: KvData[] = [];
        for (let i = 0; i < m.layers; i++) step.push(out[`${KV_STEP}.${i}.key`]!.data as KvData, out[`${KV_STEP}.${i}.value`]!.data as KvData);
        cache.append(step);
      } else {
        const present = cache.present();
        const fetches: Record<string, ort.Tensor> = { logits: logitsOut };
        for (let i = 0; i < m.layers; i++) { fetches[`present.${i}.key`] = present[2 * i]!; fetches[`present.${i}.value`] = present[2 * i + 1]!; }
        const own = this.bindOutputs ? await this.runBound(feeds, fetches) : await this.run(feeds);
        if (own) {
          cache.adopt(presentOf(own, m.layers));
          copyLogits(own, logitsBuf);
        }
        cache.advance();
      }
      if (logitsBuf instanceof Uint16Array) f16Array(logitsBuf.subarray(0, B * V), logits32);
      rows.forEach((r, b) => { if (!r.done) this.accept(r, logits32, b * V, V, requests[r.req]!.options, results); });
    }
  }

  /**
   * A run with preallocated outputs. The first one checks that onnxruntime wrote into them; where
   * it did not (or refused the shapes), this engine stops binding and returns the run's own outputs
   * for the caller to copy; null means the outputs are in place.
   */
  private async runBound(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType | null> {
    if (this.bindChecked) return (await this.run(feeds, fetches), null);
    this.bindChecked = true;
    const probe = fetches.logits!.data as Float32Array | Uint16Array;
    const sentinel = probe instanceof Uint16Array ? 0x7e01 : NaN;
    probe[0] = sentinel;
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.run(feeds, fetches);
    } catch {
      this.bindOutputs = false;
      return this.run(feeds);
    }
    const got = out.logits!.data as Float32Array | Uint16Array;
    if (Object.is(probe[0], sentinel) && !Object.is(got[0], sentinel)) { this.bindOutputs = false; return out; }
    return null;
  }

  /** Draws the next token of a row and updates its state and finish reason. */
  private accept(r: Row, logits: Float32Array, offset: number, vocab: number, o: GenerateOptions, results: OnnxCompletion[][]): void {
    this.acceptToken(r, logits, offset, vocab, o);
    if (r.done) this.finishRow(r, results);
  }

  private acceptToken(r: Row, logits: Float32Array, offset: number, vocab: number, o: GenerateOptions): void {
    const { id, logprob } = sampleToken(logits, offset, vocab, o, r.rng.uniform());
    r.generated++;
    r.logprob += logprob;
    r.tokenLogprobs.push(logprob);
    r.last = id;
    r.ids.push(id);
    this.stats.generatedTokens++;
    if (this.model.eosIds.includes(id)) { r.text.finish(); r.done = true; r.finish = 'stop'; return; }
    const stopAt = r.text.push(id);
    if (stopAt >= 0) { r.text.text = r.text.text.slice(0, stopAt); r.done = true; r.finish = 'stop'; return; }
    if (r.generated >= o.maxTokens || r.promptLen + r.generated >= this.model.maxPositions) { r.text.finish(); r.done = true; r.finish = 'length'; }
  }

  private finishRow(r: Row, results: OnnxCompletion[][]): void {
    const c: OnnxCompletion = { text: r.text.text, finishReason: r.finish, tokens: r.generated, logprob: r.logprob, tokenLogprobs: r.tokenLogprobs, ids: r.ids };
    results[r.req]![r.sample] = c;
  }

  score(requests: ScoreRequest[]): Promise<ScoreResult[]> {
    return this.exclusive(() => this.scoreNow(requests));
  }

  /** Scores token ids directly: per-token log-probs of `continuation` ids given `prompt` ids. */
  scoreIds(requests: { prompt: number[]; continuation: number[] }[]): Promise<ScoreResult[]> {
    return this.exclusive(() => this.scoreIdsNow(requests));
  }

  private async scoreNow(requests: ScoreRequest[]): Promise<ScoreResult[]> {
    // Many requests share a prompt (K traces of one question): tokenize each distinct prompt once.
    const prompts = new Map<string, number[]>();
    const ids: { prompt: number[]; continuation: number[] }[] = [];
    for (const r of requests) {
      let p = prompts.get(r.prompt);
      if (!p) { p = await this.tokenize(r.prompt); prompts.set(r.prompt, p); }
      ids.push({ prompt: p, continuation: await this.tokenize(r.continuation) });
    }
    return this.scoreIdsNow(ids);
  }

  private async scoreIdsNow(requests: { prompt: number[]; continuation: number[] }[]): Promise<ScoreResult[]> {
    const t0 = performance.now();
    const items: { seq: number[]; p: number; c: number[] }[] = [];
    for (const [i, r] of requests.entries()) {
      const p = r.prompt, c = r.continuation;
      if (p.length === 0 && c.length > 0) throw usageError('engine', `score: request ${i} has an empty prompt; the first continuation token needs a context`);
      items.push({ seq: [...p, ...c], p: p.length, c });
    }
    const results: ScoreResult[] = items.map((it) => ({ tokens: it.c, logprobs: new Float32Array(it.c.length) }));
    const lengths = items.map((it) => (it.c.length > 0 ? it.seq.length : 0));
    for (const batch of planBatches(lengths, { maxRows: this.maxRows, tokenBudget: this.scoreBudget })) await this.scoreBatch(batch, items, results);
    this.stats.scoreSeconds += (performance.now() - t0) / 1000;
    return results;
  }

  private async scoreBatch(batch: number[], items: { seq: number[]; p: number }[], results: ScoreResult[]): Promise<void> {
    const m = this.model;
    const B = batch.length;
    const L = Math.max(...batch.map((i) => items[i]!.seq.length));
    const byBudget = Math.floor(this.scoreBudget / B);
    const byLogits = Math.floor(this.logitsBudget / 4 / B / Math.max(1, m.vocabSize));
    const chunk = Math.max(1, Math.min(L, byBudget, byLogits));
    let past = this.emptyPast(B);
    for (let start = 0; start < L; start += chunk) {
      const end = Math.min(L, start + chunk), S = end - start, last = end >= L;
      const ids = new BigInt64Array(B * S), mask = new BigInt64Array(B * end), positions = new BigInt64Array(B * S);
      batch.forEach((i, b) => {
        const seq = items[i]!.seq;
        for (let g = start; g < end; g++) { ids[b * S + g - start] = BigInt(g < seq.length ? seq[g]! : m.padId); positions[b * S + g - start] = BigInt(g); }
        mask.fill(1n, b * end, b * end + Math.min(end, seq.length));
      });
      const feeds = this.feeds({ ids, batch: B, mask, positions, past, keepLast: false });
      // The cache is fetched only when another chunk follows.
      const presents = last ? [] : this.cacheOutputs;
      const out = await this.run(feeds, m.scoreOutputs ? [SCORE_OUTPUTS.next, SCORE_OUTPUTS.last, ...presents] : ['logits', ...presents]);
      if (!last) past = this.cacheAfter(out, past);
      const next = m.scoreOutputs ? (out[SCORE_OUTPUTS.next]!.data as Float32Array) : null;
      const lastLp = m.scoreOutputs ? (out[SCORE_OUTPUTS.last]!.data as Float32Array) : null;
      const logits = m.scoreOutputs ? null : logitsData(out.logits!);
      const V = m.scoreOutputs ? out[SCORE_OUTPUTS.last]!.dims[2]! : out.logits!.dims[2]!;
      batch.forEach((i, b) => {
        const { seq, p } = items[i]!;
        const res = results[i]!.logprobs;
        // Position g predicts token g + 1; the continuation starts at token p.
        for (let g = Math.max(start, p - 1); g < Math.min(end, seq.length - 1); g++) {
          const s = g - start;
          if (logits) {
            const off = (b * S + s) * V;
            res[g - (p - 1)] = logits[off + seq[g + 1]!]! - logSumExp(logits, off, V);
          } else {
            // In-graph: the chunk's last position predicts the next chunk's first token, outside this chunk's input_ids.
            res[g - (p - 1)] = s < S - 1 ? next![b * (S - 1) + s]! : lastLp![b * V + seq[g + 1]!]!;
          }
        }
        if (start === 0) this.stats.scoredTokens += seq.length;
      });
    }
  }

  /** Logits of a full forward pass over `ids` (one row, no cache): [ids.length * vocab]. For tests and peers. */
  async logitsOf(ids: number[]): Promise<{ logits: Float32Array; vocab: number }> {
    return this.exclusive(async () => {
      const f = await this.forward({ ids, batch: 1, mask: ids.map(() => 1), positions: ids.map((_, j) => j), past: this.emptyPast(1), keepLast: false });
      return { logits: f.logits, vocab: f.vocab };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.model.session.release();
  }
}

function checkOptions(o: GenerateOptions, i: number): void {
  const bad = (what: string): never => { throw usageError('engine', `generate: request ${i}: ${what}`); };
  if (!Number.isInteger(o.n) || o.n < 1) bad(`n must be a positive integer, got ${o.n}`);
  if (!Number.isSafeInteger(o.seed)) bad(`seed must be an integer, got ${o.seed}`);
  if (!(o.temperature >= 0)) bad(`temperature must be >= 0, got ${o.temperature}`);
  if (!(o.topP > 0 && o.topP <= 1)) bad(`top_p must be in (0, 1], got ${o.topP}`);
  if (!Number.isInteger(o.topK)) bad(`top_k must be an integer, got ${o.topK}`);
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 0) bad(`max_tokens must be a non-negative integer, got ${o.maxTokens}`);
}

/** Opens the embedded engine on a model folder. `threads` sets intraOpNumThreads. */
export async function openOnnxEngine(o: { modelDir: string; threads?: number; device?: 'cpu' | 'cuda' } & Partial<OnnxEngineOptions>): Promise<OnnxEngine> {
  const model = await loadModelFolder(o.modelDir, { ...o, intraOpNumThreads: o.threads ?? o.intraOpNumThreads });
  return new OnnxEngine(model, o);
}
