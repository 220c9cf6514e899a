/**
 * The embedded engine: onnxruntime-node running a decoder in the Hugging Face ONNX layout.
 *
 * Generation: each prompt is prefilled once (batch 1, in chunks), its KV cache is copied to its n
 * sample rows, and rows of several prompts decode together (left-padded caches). Each sample draws
 * from its own generator seeded with seed + sample index, and the prefill never depends on the
 * batch, so a sample is the same whatever batch it runs in (up to float noise in batched matmuls).
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

/** Options of the embedded engine. */
export interface OnnxEngineOptions extends SessionOptions {
  modelDir: string;
  /** Sample rows decoded together (default 64). */
  maxBatchRows?: number;
  /** Tokens per prefill pass; longer prompts are prefilled in chunks (default 512). */
  prefillChunk?: number;
  /** Padded tokens per scoring batch (default 16384; logitsBudgetBytes bounds memory for large vocabularies). */
  scoreTokenBudget?: number;
  /** Bytes of float32 logits one forward pass may produce; bounds chunk sizes for large vocabularies (default 256 MiB). */
  logitsBudgetBytes?: number;
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

type KvData = Float32Array | Uint16Array;

/** A completion with the sampled token ids (this engine knows them; text may not re-tokenize to them). */
export interface OnnxCompletion extends Completion {
  ids: number[];
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

function int64(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return new ort.Tensor('int64', data, dims);
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

  constructor(readonly model: LoadedModel, options: Omit<OnnxEngineOptions, 'modelDir'> = {}) {
    this.id = `onnx:${model.dir}@${model.hash}`;
    this.table = byteTable(model.tokenizerJson, model.tokenizer);
    this.maxRows = Math.max(1, options.maxBatchRows ?? 64);
    this.prefillChunk = Math.max(1, options.prefillChunk ?? 512);
    this.scoreBudget = Math.max(1, options.scoreTokenBudget ?? 16384);
    this.logitsBudget = options.logitsBudgetBytes ?? 256 * 2 ** 20;
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

  /** One forward pass: ids [B, S], mask [B, past+S], positions [B, S]; keepLast asks for the last position's logits only where the export can. */
  private async forward(a: { ids: number[]; batch: number; mask: number[] | BigInt64Array; positions: number[]; past: ort.Tensor[]; keepLast: boolean }): Promise<Forward> {
    const S = a.ids.length / a.batch;
    const m = this.model;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(a.ids, [a.batch, S]),
      attention_mask: a.mask instanceof BigInt64Array ? new ort.Tensor('int64', a.mask, [a.batch, a.mask.length / a.batch]) : int64(a.mask, [a.batch, a.mask.length / a.batch]),
    };
    if (m.hasPositionIds) feeds.position_ids = int64(a.positions, [a.batch, S]);
    for (let i = 0; i < m.layers; i++) {
      feeds[`past_key_values.${i}.key`] = a.past[2 * i]!;
      feeds[`past_key_values.${i}.value`] = a.past[2 * i + 1]!;
    }
    if (m.logitsToKeep) feeds[m.logitsToKeep] = new ort.Tensor('int64', BigInt64Array.from([a.keepLast ? 1n : 0n]), []);
    if (m.hasUseCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.from([a.past[0]!.dims[2]! > 0 ? 1 : 0]), [1]);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await m.session.run(feeds);
    } catch (err) {
      throw new VrdataError('engine', `onnxruntime failed on ${m.dir} (${(err as Error).message.split('\n')[0]}); the model's inputs may not match its config.json`, { cause: err });
    }
    this.stats.forwardPasses++;
    const lt = out.logits!;
    const vocab = lt.dims[2]!;
    const logits = lt.type === 'float16' ? Float32Array.from(lt.data as Uint16Array, f16ToF32) : (lt.data as Float32Array);
    const present: ort.Tensor[] = [];
    for (let i = 0; i < m.layers; i++) present.push(out[`present.${i}.key`]!, out[`present.${i}.value`]!);
    return { logits, positions: lt.dims[1]!, vocab, present };
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
        for (let s = 0; s < r.options.n; s++) results[i]![s] = { text: '', finishReason: 'length', tokens: 0, logprob: 0, ids: [] } as OnnxCompletion;
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
          generated: 0, logprob: 0, last: -1, ids: [], done: false, finish: 'length',
        });
      }
    }
    // Left-padded batch cache: row r's prompt occupies the last promptLen columns of T.
    let T = Math.max(...rows.map((r) => r.promptLen));
    const blk = m.kvHeads * m.headDim;
    let past: ort.Tensor[] = [];
    for (let l = 0; l < 2 * m.layers; l++) {
      const data: KvData = m.kvType === 'float16' ? new Uint16Array(rows.length * blk * T) : new Float32Array(rows.length * blk * T);
      rows.forEach((r, b) => {
        const src = prefills.get(r.req)!.past[l]!.data as KvData;
        const P = r.promptLen, pad = T - P;
        for (let h = 0; h < m.kvHeads; h++) {
          data.set(src.subarray(h * P * m.headDim, (h + 1) * P * m.headDim), ((b * m.kvHeads + h) * T + pad) * m.headDim);
        }
      });
      past.push(new ort.Tensor(m.kvType, data, [rows.length, m.kvHeads, T, m.headDim]));
    }
    // Row b's cache has T - promptLen padding columns on the left; every later column is real.
    let pads = rows.map((r) => T - r.promptLen);
    for (const r of rows) {
      const p = prefills.get(r.req)!;
      this.accept(r, p.logits, 0, p.vocab, requests[r.req]!.options);
    }
    prefills.clear(); // the per-prompt caches now live in `past` only

    for (;;) {
      if (rows.some((r) => r.done)) {
        const keep = rows.map((r, b) => (r.done ? -1 : b)).filter((b) => b >= 0);
        for (const r of rows) if (r.done) this.finishRow(r, results);
        if (keep.length === 0) break;
        past = past.map((t) => {
          const src = t.data as KvData;
          const per = blk * T;
          const data: KvData = m.kvType === 'float16' ? new Uint16Array(keep.length * per) : new Float32Array(keep.length * per);
          keep.forEach((b, j) => data.set(src.subarray(b * per, (b + 1) * per), j * per));
          return new ort.Tensor(m.kvType, data, [keep.length, m.kvHeads, T, m.headDim]);
        });
        rows = keep.map((b) => rows[b]!);
        pads = keep.map((b) => pads[b]!);
      }
      T += 1;
      const mask = new BigInt64Array(rows.length * T).fill(1n);
      pads.forEach((pad, b) => mask.fill(0n, b * T, b * T + pad));
      const f = await this.forward({
        ids: rows.map((r) => r.last), batch: rows.length, mask,
        positions: rows.map((r) => r.promptLen + r.generated - 1), past, keepLast: true,
      });
      past = f.present;
      rows.forEach((r, b) => this.accept(r, f.logits, (b * f.positions + f.positions - 1) * f.vocab, f.vocab, requests[r.req]!.options));
    }
  }

  /** Draws the next token of a row and updates its state and finish reason. */
  private accept(r: Row, logits: Float32Array, offset: number, vocab: number, o: GenerateOptions): void {
    const { id, logprob } = sampleToken(logits, offset, vocab, o, r.rng.uniform());
    r.generated++;
    r.logprob += logprob;
    r.last = id;
    r.ids.push(id);
    this.stats.generatedTokens++;
    if (this.model.eosIds.includes(id)) { r.text.finish(); r.done = true; r.finish = 'stop'; return; }
    const stopAt = r.text.push(id);
    if (stopAt >= 0) { r.text.text = r.text.text.slice(0, stopAt); r.done = true; r.finish = 'stop'; return; }
    if (r.generated >= o.maxTokens || r.promptLen + r.generated >= this.model.maxPositions) { r.text.finish(); r.done = true; r.finish = 'length'; }
  }

  private finishRow(r: Row, results: OnnxCompletion[][]): void {
    const c: OnnxCompletion = { text: r.text.text, finishReason: r.finish, tokens: r.generated, logprob: r.logprob, ids: r.ids };
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
    const ids: { prompt: number[]; continuation: number[] }[] = [];
    for (const r of requests) ids.push({ prompt: await this.tokenize(r.prompt), continuation: await this.tokenize(r.continuation) });
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
    const order = items.map((_, i) => i).filter((i) => items[i]!.c.length > 0).sort((a, b) => items[b]!.seq.length - items[a]!.seq.length || a - b);
    for (let k = 0; k < order.length;) {
      const L = items[order[k]!]!.seq.length;
      const n = Math.max(1, Math.min(this.maxRows, Math.floor(this.scoreBudget / L), order.length - k));
      await this.scoreBatch(order.slice(k, k + n), items, results);
      k += n;
    }
    this.stats.scoreSeconds += (performance.now() - t0) / 1000;
    return results;
  }

  private async scoreBatch(batch: number[], items: { seq: number[]; p: number }[], results: ScoreResult[]): Promise<void> {
    const B = batch.length;
    const L = Math.max(...batch.map((i) => items[i]!.seq.length));
    const byBudget = Math.floor(this.scoreBudget / B);
    const byLogits = Math.floor(this.logitsBudget / 4 / B / Math.max(1, this.model.vocabSize));
    const chunk = Math.max(1, Math.min(L, byBudget, byLogits));
    let past = this.emptyPast(B);
    for (let start = 0; start < L; start += chunk) {
      const end = Math.min(L, start + chunk), S = end - start;
      const ids: number[] = [], mask: number[] = [], positions: number[] = [];
      for (const i of batch) {
        const seq = items[i]!.seq;
        for (let g = start; g < end; g++) { ids.push(g < seq.length ? seq[g]! : this.model.padId); positions.push(g); }
        for (let g = 0; g < end; g++) mask.push(g < seq.length ? 1 : 0);
      }
      const f = await this.forward({ ids, batch: B, mask, positions, past, keepLast: false });
      past = f.present;
      batch.forEach((i, b) => {
        const { seq, p } = items[i]!;
        const out = results[i]!.logprobs;
        // Position g predicts token g + 1; the continuation starts at token p.
        for (let g = Math.max(start, p - 1); g < Math.min(end, seq.length - 1); g++) {
          const off = (b * S + (g - start)) * f.vocab;
          out[g - (p - 1)] = f.logits[off + seq[g + 1]!]! - logSumExp(f.logits, off, f.vocab);
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
