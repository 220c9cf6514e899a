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

/** Copies a prefilled [1, kvHeads, P, headDim] cache into row `b` of `dst` ([rows, kvHeads, cols, headDim]), ending at column `end`. */
function writeRowAt(shape: KvShape, dst: KvData, cols: number, end: number, b: number, src: KvData, P: number): void {
  const { kvHeads, headDim } = shape, pad = end - P;
  for (let h = 0; h < kvHeads; h++) {
    dst.set(src.subarray(h * P * headDim, (h + 1) * P * headDim), ((b * kvHeads + h) * cols + pad) * headDim);
  }
}

/** The first `rows` rows of each buffer as tensors [rows, kvHeads, cols, headDim]. */
function views(shape: KvShape, buffers: KvData[], rows: number, cols: number): ort.Tensor[] {
  const n = rows * shape.kvHeads * shape.headDim * cols, dims = [rows, shape.kvHeads, cols, shape.headDim];
  return buffers.map((d) => new ort.Tensor(shape.kvType, d.subarray(0, n), dims));
}

/** Keeps rows `keep` (ascending indices) of each buffer in that order, moving them down in place; `perRow` elements per row. */
function compactRows(buffers: KvData[], keep: readonly number[], perRow: number): void {
  for (const d of buffers) {
    keep.forEach((b, j) => { if (b !== j) d.copyWithin(j * perRow, b * perRow, (b + 1) * perRow); });
  }
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

  /** Columns of the past as fed: T. */
  get cols(): number {
    return this.T;
  }

  /** Copies a prefilled cache (tensor `l` of a [1, kvHeads, P, headDim] cache) into row `b`, right-aligned (left padding stays zero). */
  writeRow(l: number, b: number, src: KvData, P: number): void {
    writeRowAt(this.shape, this.cur[l]!, this.T, this.T, b, src, P);
  }

  /** The past as tensors [rows, kvHeads, T, headDim] (views of the current set). */
  past(): ort.Tensor[] {
    return views(this.shape, this.cur, this.rows, this.T);
  }

  /** Output tensors [rows, kvHeads, T + 1, headDim] for `present`, in the other set (grown when full). */
  present(): ort.Tensor[] {
    const n = this.rows * this.perCol * (this.T + 1);
    if (this.next[0]!.length < n) {
      const cap = this.rows * this.perCol * growCols(this.T + 1);
      this.next = this.next.map(() => alloc(this.shape.kvType, cap));
    }
    return views(this.shape, this.next, this.rows, this.T + 1);
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
    compactRows(this.cur, keep, this.perCol * this.T);
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

  /** Columns of the past as fed: the capacity (those from T on are unfilled and must be masked). */
  get cols(): number {
    return this.cap;
  }

  /** Copies a prefilled cache (tensor `l` of a [1, kvHeads, P, headDim] cache) into row `b`, ending at column T (left padding stays zero). */
  writeRow(l: number, b: number, src: KvData, P: number): void {
    writeRowAt(this.shape, this.data[l]!, this.cap, this.T, b, src, P);
  }

  /** The past as tensors [rows, kvHeads, cap, headDim]; columns T..cap-1 hold nothing yet and must be masked. */
  past(): ort.Tensor[] {
    return views(this.shape, this.data, this.rows, this.cap);
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
    compactRows(this.data, keep, this.perCol * this.cap);
    this.rows = keep.length;
  }
}
