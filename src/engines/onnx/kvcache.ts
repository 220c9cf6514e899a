/**
 * A decode batch's KV cache in two buffer sets used in turn: onnxruntime reads the past from one
 * set and writes `present` straight into the other (preallocated outputs), so a decode step
 * allocates nothing and copies nothing in JavaScript. Only onnxruntime's own Concat copies the
 * cache, as every Hugging Face export does.
 *
 * Layout per layer tensor: [rows, kvHeads, T, headDim] packed at the start of a larger buffer
 * (views grow with T; the buffer grows by a quarter when full). Finished rows stay in the batch
 * until `compact` drops them in place, so a row that ends does not cost a copy of everyone's cache.
 */
import * as ort from 'onnxruntime-node';

/** Element storage of a float32 or float16 cache. */
export type KvData = Float32Array | Uint16Array;

/** Shape of one model's cache. */
export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  kvType: 'float32' | 'float16';
}

function alloc(kvType: KvShape['kvType'], n: number): KvData {
  return kvType === 'float16' ? new Uint16Array(n) : new Float32Array(n);
}

/** See the module comment. `T` is the past length; `rows` the batch size (finished rows included until compacted). */
export class BatchCache {
  rows: number;
  T: number;
  private cur: KvData[];
  private next: KvData[];
  private readonly perCol: number;

  /** `finalT`: the longest the past can get; both sets are sized for it at once when that fits in `preallocBytes` (default 512 MiB), else they grow. */
  constructor(private readonly shape: KvShape, rows: number, T: number, finalT = 0, preallocBytes = 512 * 2 ** 20) {
    this.rows = rows;
    this.T = T;
    this.perCol = shape.kvHeads * shape.headDim;
    const bytes = (cols: number): number => 2 * 2 * shape.layers * rows * this.perCol * cols * (shape.kvType === 'float16' ? 2 : 4);
    const cols = finalT > T && bytes(finalT + 1) <= preallocBytes ? finalT + 1 : growCols(T + 1);
    this.cur = Array.from({ length: 2 * shape.layers }, () => alloc(shape.kvType, rows * this.perCol * cols));
    this.next = Array.from({ length: 2 * shape.layers }, () => alloc(shape.kvType, rows * this.perCol * cols));
  }

  /** Copies a prefilled cache (tensor `l` of a [1, kvHeads, P, headDim] cache) into row `b`, right-aligned (left padding stays zero). */
  writeRow(l: number, b: number, src: KvData, P: number): void {
    const { kvHeads, headDim } = this.shape;
    const T = this.T, dst = this.cur[l]!, pad = T - P;
    for (let h = 0; h < kvHeads; h++) {
      dst.set(src.subarray(h * P * headDim, (h + 1) * P * headDim), ((b * kvHeads + h) * T + pad) * headDim);
    }
  }

  /** The past as tensors [rows, kvHeads, T, headDim] (views of the current set). */
  past(): ort.Tensor[] {
    const n = this.rows * this.perCol * this.T, dims = [this.rows, this.shape.kvHeads, this.T, this.shape.headDim];
    return this.cur.map((d) => new ort.Tensor(this.shape.kvType, d.subarray(0, n), dims));
  }

  /** Output tensors [rows, kvHeads, T + 1, headDim] for `present`, in the other set (grown when full). */
  present(): ort.Tensor[] {
    const n = this.rows * this.perCol * (this.T + 1);
    if (this.next[0]!.length < n) {
      const cap = this.rows * this.perCol * growCols(this.T + 1);
      this.next = this.next.map(() => alloc(this.shape.kvType, cap));
    }
    const dims = [this.rows, this.shape.kvHeads, this.T + 1, this.shape.headDim];
    return this.next.map((d) => new ort.Tensor(this.shape.kvType, d.subarray(0, n), dims));
  }

  /** Copies `present` outputs that onnxruntime allocated itself into the other set (for exports whose outputs cannot be preallocated). */
  adopt(present: ort.Tensor[]): void {
    this.present();
    present.forEach((t, l) => this.next[l]!.set(t.data as KvData));
  }

  /** After a step: the present becomes the past. */
  advance(): void {
    [this.cur, this.next] = [this.next, this.cur];
    this.T += 1;
  }

  /** Keeps rows `keep` (ascending batch indices) in that order, moving them down in place. */
  compact(keep: readonly number[]): void {
    const per = this.perCol * this.T;
    for (const d of this.cur) {
      keep.forEach((b, j) => { if (b !== j) d.copyWithin(j * per, b * per, (b + 1) * per); });
    }
    this.rows = keep.length;
  }
}

/** Columns to allocate for `need`: a quarter more (at least 16), so growth reallocates O(log T) times. */
function growCols(need: number): number {
  return need + Math.max(16, need >> 2);
}

/**
 * A decode batch's cache for graphs with kv_step outputs (this project's own models): one buffer
 * per layer tensor, [rows, kvHeads, cap, headDim], fed whole every step with the columns from T on
 * masked off; each step's keys and values are written into column T. No step copies the cache
 * (a present = past ++ new output copies all of it, which at 600 columns was ~90% of a decode step
 * of an 8-layer, 512-wide model); the capacity grows by an eighth (at least 32 columns) when full,
 * so masked columns cost at most that share of the attention.
 */
export class AppendCache {
  rows: number;
  T: number;
  cap: number;
  private data: KvData[];
  private readonly perCol: number;

  /** `finalT`: the longest the past can get (capacity never exceeds it). */
  constructor(private readonly shape: KvShape, rows: number, T: number, private readonly finalT: number) {
    this.rows = rows;
    this.T = T;
    this.perCol = shape.kvHeads * shape.headDim;
    this.cap = this.nextCap(T);
    this.data = Array.from({ length: 2 * shape.layers }, () => alloc(shape.kvType, rows * this.perCol * this.cap));
  }

  private nextCap(T: number): number {
    return Math.max(T + 1, Math.min(this.finalT, T + Math.max(32, T >> 3)));
  }

  /** Copies a prefilled cache (tensor `l` of a [1, kvHeads, P, headDim] cache) into row `b`, ending at column T (left padding stays zero). */
  writeRow(l: number, b: number, src: KvData, P: number): void {
    const { kvHeads, headDim } = this.shape;
    const dst = this.data[l]!, pad = this.T - P;
    for (let h = 0; h < kvHeads; h++) {
      dst.set(src.subarray(h * P * headDim, (h + 1) * P * headDim), ((b * kvHeads + h) * this.cap + pad) * headDim);
    }
  }

  /** The past as tensors [rows, kvHeads, cap, headDim]; columns T..cap-1 hold nothing yet and must be masked. */
  past(): ort.Tensor[] {
    const n = this.rows * this.perCol * this.cap, dims = [this.rows, this.shape.kvHeads, this.cap, this.shape.headDim];
    return this.data.map((d) => new ort.Tensor(this.shape.kvType, d.subarray(0, n), dims));
  }

  /** Writes one step's keys and values (tensor l: [rows, kvHeads, 1, headDim]) into column T and advances; grows first when full. */
  append(step: KvData[]): void {
    if (this.T >= this.cap) this.grow();
    const { kvHeads, headDim } = this.shape;
    for (let l = 0; l < step.length; l++) {
      const src = step[l]!, dst = this.data[l]!;
      for (let rh = 0; rh < this.rows * kvHeads; rh++) {
        dst.set(src.subarray(rh * headDim, (rh + 1) * headDim), (rh * this.cap + this.T) * headDim);
      }
    }
    this.T += 1;
  }

  private grow(): void {
    const cap = this.nextCap(this.T), { kvHeads, headDim } = this.shape;
    this.data = this.data.map((old) => {
      const d = alloc(this.shape.kvType, this.rows * this.perCol * cap);
      for (let rh = 0; rh < this.rows * kvHeads; rh++) d.set(old.subarray(rh * this.cap * headDim, (rh * this.cap + this.T) * headDim), rh * cap * headDim);
      return d;
    });
    this.cap = cap;
  }

  /** Keeps rows `keep` (ascending batch indices) in that order, moving them down in place. */
  compact(keep: readonly number[]): void {
    const per = this.perCol * this.cap;
    for (const d of this.data) {
      keep.forEach((b, j) => { if (b !== j) d.copyWithin(j * per, b * per, (b + 1) * per); });
    }
    this.rows = keep.length;
  }
}
