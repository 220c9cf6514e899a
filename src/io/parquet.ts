/**
 * Parquet files in and out, one row group at a time.
 *
 * Library: parquet-wasm (arrow-rs compiled to wasm) + apache-arrow. Measured here (DESIGN.md
 * "Conventions" and bench/parquet.bench.ts) it is the fastest embeddable choice, reads zstd/snappy,
 * dictionary pages and nested lists as written by pyarrow and DuckDB, and writes what DuckDB reads.
 * - Writing streams record batches through `transformParquetStream` with a row-group byte limit
 *   of 1, so every batch we hand it becomes exactly one row group; whole-table writes would hit
 *   wasm's 4 GiB memory limit near 40k rows of 40 KB.
 * - Reading opens the file as a file-backed Blob (`fs.openAsBlob`), so `ParquetFile` fetches only
 *   the footer and the byte ranges of the row groups and columns asked for; `ParquetFile.read`
 *   honours `columns` (the one-shot `readParquet` does not).
 * - Every wasm object is `.free()`d as soon as it has been copied out, or wasm memory only grows.
 */
import { createHash, type Hash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { VrdataError, describeError } from '../util/errors.js';
import { checkSchema, checkValue, expectedText, type Row, type Schema } from './schema.js';
import { arrowSchema, encodeBatch } from './parquet-encode.js';
import { decodeBatch, typeName } from './parquet-decode.js';
import { guardWasm, isWasmPanic } from './parquet-guard.js';

export type { Row, Schema, Column, ColumnType } from './schema.js';

/** Writer settings. Defaults: 1,024 rows or 64 MiB (estimated) per row group, zstd. */
export interface WriterOptions {
  schema: Schema;
  rowGroupRows?: number;
  /** Flush a row group early once its rows hold about this many bytes (strings + list elements). */
  rowGroupBytes?: number;
  compression?: 'zstd' | 'snappy' | 'uncompressed';
}

const COMPRESSION = { zstd: pw.Compression.ZSTD, snappy: pw.Compression.SNAPPY, uncompressed: pw.Compression.UNCOMPRESSED } as const;

/** Rough in-memory size of one value, to bound a row group's bytes. */
function valueBytes(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) { let n = 8 * v.length; for (const e of v) if (typeof e === 'string') n += e.length; return n; }
  if (ArrayBuffer.isView(v)) return v.byteLength;
  return 8;
}

/**
 * Writes one Parquet file row group by row group (see the top of this file). Not safe for
 * concurrent `write` calls: await each before the next.
 */
export class ParquetWriter {
  private readonly names: Set<string>;
  private readonly aSchema: arrow.Schema;
  private readonly rowGroupRows: number;
  private readonly rowGroupBytes: number;
  private buffer: Row[] = [];
  private bufferBytes = 0;
  private rows = 0;
  private batchesSent = 0;
  private bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  // the hand-over to the wasm writer: one batch at a time, taken when it pulls
  private pending: pw.RecordBatch | 'end' | undefined;
  private pullWaiter: (() => void) | undefined;
  private takenWaiter: (() => void) | undefined;
  private controller: ReadableStreamDefaultController<pw.RecordBatch> | undefined;
  private failure: unknown;
  private drained!: Promise<void>;
  private state: 'open' | 'closed' | 'aborted' = 'open';

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly options: WriterOptions,
  ) {
    this.names = new Set(options.schema.map((c) => c.name));
    this.aSchema = arrowSchema(options.schema);
    this.rowGroupRows = options.rowGroupRows ?? 1024;
    this.rowGroupBytes = options.rowGroupBytes ?? 64 * 1024 * 1024;
    if (!(this.rowGroupRows >= 1)) throw new VrdataError('parquet', `rowGroupRows must be at least 1, got ${this.rowGroupRows}`);
  }

  /** Creates/truncates `path` (the runner passes a temporary name and renames it itself). */
  static async open(path: string, options: WriterOptions): Promise<ParquetWriter> {
    checkSchema(options.schema, `schema of ${path}`);
    let handle: FileHandle;
    try {
      handle = await open(path, 'w');
    } catch (err) {
      throw new VrdataError('parquet', `cannot create ${path}: ${describeError(err)}; check that its folder exists and is writable`, { cause: err });
    }
    const w = new ParquetWriter(path, handle, options);
    w.start();
    return w;
  }

  private start(): void {
    const input = new ReadableStream<pw.RecordBatch>({
      start: (c) => { this.controller = c; },
      pull: (c) => this.onPull(c),
    }, { highWaterMark: 0 });
    const props = new pw.WriterPropertiesBuilder()
      .setCompression(COMPRESSION[this.options.compression ?? 'zstd'])
      .setMaxRowGroupSize(this.rowGroupRows)
      .setMaxRowGroupBytes(1) // every batch handed over is flushed as its own row group
      .setCreatedBy('vrdata');
    // dictionary pages only for scalar strings and ints (labels, ids repeat; floats and list
    // elements rarely do and cost time). Per-column settings take a one-part path, which only
    // matches top-level columns, hence off by default and on by name.
    let b = props.setDictionaryEnabled(false);
    for (const c of this.options.schema) if (c.type === 'string' || c.type.startsWith('int')) b = b.setColumnDictionaryEnabled(c.name, true);
    // not awaited: the wasm side may pull the first batch before it hands back its output stream
    this.drained = guardWasm(() => pw.transformParquetStream(input, b.build()).then((output) => this.drain(output))).catch((err: unknown) => {
      this.failure ??= err;
      this.takenWaiter?.();
    });
  }

  private async onPull(c: ReadableStreamDefaultController<pw.RecordBatch>): Promise<void> {
    while (this.pending === undefined) await new Promise<void>((resolve) => { this.pullWaiter = resolve; });
    const item = this.pending;
    this.pending = undefined;
    if (item === 'end') c.close();
    else c.enqueue(item);
    const taken = this.takenWaiter;
    this.takenWaiter = undefined;
    taken?.();
  }

  private async drain(output: ReadableStream): Promise<void> {
    for await (const chunk of output as unknown as AsyncIterable<Uint8Array>) {
      this.hash.update(chunk);
      this.bytes += chunk.byteLength;
      let off = 0;
      while (off < chunk.byteLength) off += (await this.handle.write(chunk, off, chunk.byteLength - off)).bytesWritten;
    }
  }

  /** Hands one item to the wasm writer and waits until it has taken it (backpressure). */
  private async handOver(item: pw.RecordBatch | 'end'): Promise<void> {
    this.pending = item;
    const taken = new Promise<void>((resolve) => { this.takenWaiter = resolve; });
    const waiter = this.pullWaiter;
    this.pullWaiter = undefined;
    waiter?.();
    await taken;
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      throw new VrdataError('parquet', `writing ${this.path} failed: ${describeError(this.failure)}; check disk space and permissions, then rerun`, { cause: this.failure });
    }
  }

  private async flushGroup(count: number): Promise<void> {
    const rows = this.buffer.splice(0, count);
    this.bufferBytes = 0;
    for (const r of this.buffer) for (const c of this.options.schema) this.bufferBytes += valueBytes(r[c.name]);
    const ipc = encodeBatch(this.options.schema, this.aSchema, rows);
    const table = pw.Table.fromIPCStream(ipc);
    const batch = table.recordBatch(0);
    table.free();
    if (!batch) throw new VrdataError('parquet', `internal: encoded batch for ${this.path} is empty; please report this`);
    this.batchesSent++;
    await this.handOver(batch);
  }

  private check(rows: Row[]): void {
    const schema = this.options.schema;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const n = this.rows + i;
      if (row === null || typeof row !== 'object') {
        throw new VrdataError('parquet', `${this.path}: row ${n} is ${row === null ? 'null' : typeof row}, not an object; pass one object per row`);
      }
      for (const col of schema) {
        const v = row[col.name];
        if (v === null || v === undefined) {
          if (col.nullable) continue;
          throw new VrdataError('parquet', `${this.path}: column ${col.name}, row ${n}: expected ${expectedText(col.type)}, got ${v === null ? 'null' : 'nothing (missing key)'}; fill it or declare the column nullable`);
        }
        const bad = checkValue(col.type, v);
        if (bad !== undefined) {
          throw new VrdataError('parquet', `${this.path}: column ${col.name}, row ${n}: expected ${expectedText(col.type)}, got ${bad}; convert the value or change the column's type`);
        }
        this.bufferBytes += valueBytes(v);
      }
      for (const key in row) {
        if (!this.names.has(key) && row[key] !== undefined) {
          throw new VrdataError('parquet', `${this.path}: row ${n} has column '${key}', which is not in the schema (${[...this.names].join(', ')}); add it to the schema or drop it from the row`);
        }
      }
    }
  }

  /** Validates rows against the schema (VrdataError naming column and row) and buffers; flushes full row groups. */
  async write(rows: Row[]): Promise<void> {
    if (this.state !== 'open') throw new VrdataError('parquet', `write to ${this.path} after ${this.state === 'closed' ? 'close' : 'abort'}; open a new writer`);
    this.throwIfFailed();
    const before = this.bufferBytes;
    try {
      this.check(rows);
    } catch (err) {
      this.bufferBytes = before;
      throw err;
    }
    for (const r of rows) this.buffer.push(r);
    this.rows += rows.length;
    while (this.buffer.length >= this.rowGroupRows) await this.flushGroup(this.rowGroupRows);
    if (this.bufferBytes >= this.rowGroupBytes && this.buffer.length > 0) await this.flushGroup(this.buffer.length);
  }

  /** Flushes, writes the footer, fsyncs. Returns the row count, byte size and sha256 hex of the file. */
  async close(): Promise<{ rows: number; bytes: number; sha256: string }> {
    if (this.state !== 'open') throw new VrdataError('parquet', `close of ${this.path} after ${this.state === 'closed' ? 'close' : 'abort'}; open a new writer`);
    try {
      // a file with zero rows still needs its schema: hand over an empty batch
      if (this.buffer.length > 0 || this.batchesSent === 0) await this.flushGroup(this.buffer.length);
      await this.handOver('end');
      await this.drained;
      this.throwIfFailed();
      await this.handle.sync();
      await this.handle.close();
      this.state = 'closed';
    } catch (err) {
      await this.abort();
      throw err;
    }
    return { rows: this.rows, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Closes and deletes the partial file; safe to call more than once and after a failed close. */
  async abort(): Promise<void> {
    if (this.state === 'aborted') return;
    const wasOpen = this.state === 'open';
    this.state = 'aborted';
    this.buffer = [];
    if (wasOpen) {
      this.failure ??= new Error('aborted');
      try { this.controller?.error(new Error('aborted')); } catch { /* already closed */ }
      this.pullWaiter?.();
      this.takenWaiter?.();
      await this.drained.catch(() => undefined);
      await this.handle.close().catch(() => undefined);
    }
    await unlink(this.path).catch(() => undefined);
  }
}

const MAGIC = Buffer.from('PAR1');

/** Checks the file's size and magic bytes, so bad files get a clear message instead of a wasm error. */
async function checkFile(path: string): Promise<number> {
  let size: number;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new VrdataError('parquet', `${path} is a folder, not a Parquet file; name one of its .parquet files`);
    size = st.size;
  } catch (err) {
    if (err instanceof VrdataError) throw err;
    throw new VrdataError('parquet', `cannot open ${path}: ${describeError(err)}; check the path`, { cause: err });
  }
  if (size === 0) throw new VrdataError('parquet', `${path} is empty (0 bytes); it was not written completely: delete it and rerun the step that makes it`);
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(8);
    await fh.read(head, 0, 4, 0);
    if (size >= 8) await fh.read(tail, 0, 8, size - 8);
    if (!head.equals(MAGIC)) {
      throw new VrdataError('parquet', `${path} is not a Parquet file (it does not start with PAR1); give a .parquet file, or convert it first`);
    }
    if (size < 12 || !tail.subarray(4).equals(MAGIC)) {
      throw new VrdataError('parquet', `${path} is truncated (no Parquet footer at its end, ${size} bytes); it was not written completely: delete it and rerun the step that makes it`);
    }
    const footer = tail.readUInt32LE(0);
    if (footer + 12 > size) {
      throw new VrdataError('parquet', `${path} is truncated or corrupt (footer of ${footer} bytes in a ${size}-byte file); delete it and rerun the step that makes it`);
    }
  } finally {
    await fh.close();
  }
  return size;
}

function corrupt(path: string, what: string, err: unknown): VrdataError {
  // a Rust panic carries no message worth showing ("unreachable")
  const why = isWasmPanic(err) ? 'the decoder failed on its bytes' : describeError(err).split('\n')[0];
  return new VrdataError('parquet', `cannot read ${what} of ${path}: ${why}; the file is corrupt or uses an unsupported feature: re-create it`, { cause: err });
}

/** Frees a wasm object; after a panic it may still be borrowed by the dead task, and then it leaks. */
function freeQuietly(obj: { free(): void }): void {
  try { obj.free(); } catch { /* still borrowed by a panicked task: leave it */ }
}

/** An opened file: its wasm handle, size and Arrow schema (free the handle when done). */
interface Opened { file: pw.ParquetFile; size: number; schema: arrow.Schema }

async function openFile(path: string): Promise<Opened> {
  const size = await checkFile(path);
  let file: pw.ParquetFile;
  try {
    const blob = await openAsBlob(path);
    file = await guardWasm(() => pw.ParquetFile.fromFile(blob as unknown as Blob));
  } catch (err) {
    throw corrupt(path, 'the footer', err);
  }
  try {
    const schema = arrow.tableFromIPC(file.schema().intoIPCStream()).schema;
    return { file, size, schema };
  } catch (err) {
    freeQuietly(file);
    throw corrupt(path, 'the schema', err);
  }
}

/** Throws unless every requested column is one of the file's top-level columns. */
function checkColumns(path: string, schema: arrow.Schema, columns: string[] | undefined): void {
  if (!columns) return;
  const have = new Set(schema.fields.map((f) => f.name));
  const missing = columns.filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new VrdataError('parquet', `${path} has no column ${missing.join(', ')}; it has ${[...have].join(', ')}`);
  }
}

/** Options for reading. `requireRows` turns a zero-row file into an error (for inputs that must not be empty). */
export interface ReadOptions { columns?: string[]; batchRows?: number; requireRows?: boolean }

/**
 * Streams rows row group by row group with bounded memory: one batch per row group, or batches
 * of at most `batchRows` rows. `columns` really limits what is read and decoded. A zero-row file
 * yields nothing unless `requireRows`.
 */
export async function* readRows(path: string, options: ReadOptions = {}): AsyncGenerator<Row[]> {
  const { file, schema } = await openFile(path);
  try {
    checkColumns(path, schema, options.columns);
    const meta = file.metadata();
    const groups = meta.rowGroups().map((g) => { const n = g.numRows(); g.free(); return n; });
    meta.free();
    const total = groups.reduce((a, b) => a + b, 0);
    if (total === 0 && options.requireRows) {
      throw new VrdataError('parquet', `${path} has zero rows; check the step that wrote it (its input may have been empty)`);
    }
    let firstRow = 0;
    for (let g = 0; g < groups.length; g++) {
      let table: arrow.Table;
      try {
        const wasmTable = await guardWasm(() => file.read({ rowGroups: [g], columns: options.columns, batchSize: options.batchRows ?? Math.max(1, groups[g]) }));
        table = arrow.tableFromIPC(wasmTable.intoIPCStream());
      } catch (err) {
        throw corrupt(path, `row group ${g}`, err);
      }
      if (options.batchRows) {
        for (const batch of table.batches) {
          for (let s = 0; s < batch.numRows; s += options.batchRows) {
            const part = batch.slice(s, Math.min(batch.numRows, s + options.batchRows));
            yield decodeBatch(part, path, firstRow);
            firstRow += part.numRows;
          }
        }
      } else {
        const rows: Row[] = [];
        for (const batch of table.batches) {
          for (const r of decodeBatch(batch, path, firstRow)) rows.push(r);
          firstRow += batch.numRows;
        }
        if (rows.length > 0) yield rows;
      }
    }
  } finally {
    freeQuietly(file);
  }
}

/** Whole file, for small files and tests. */
export async function readAllRows(path: string, options: { columns?: string[]; requireRows?: boolean } = {}): Promise<Row[]> {
  const out: Row[] = [];
  for await (const rows of readRows(path, options)) for (const r of rows) out.push(r);
  return out;
}

/** Shape of a file: `columns[].type` is vrdata's type name where it is one ('list<float32>'), else Arrow's. */
export interface ParquetInfo {
  rows: number;
  rowGroups: number;
  columns: { name: string; type: string; nullable: boolean }[];
  bytes: number;
  /** Rows per row group, in file order. */
  rowGroupRows: number[];
  createdBy?: string;
}

/** Reads only the footer. */
export async function readInfo(path: string): Promise<ParquetInfo> {
  const { file, size, schema } = await openFile(path);
  try {
    const meta = file.metadata();
    const fm = meta.fileMetadata();
    const rowGroupRows = meta.rowGroups().map((g) => { const n = g.numRows(); g.free(); return n; });
    const info: ParquetInfo = {
      rows: fm.numRows(),
      rowGroups: rowGroupRows.length,
      columns: schema.fields.map((f) => ({ name: f.name, type: typeName(f.type), nullable: f.nullable })),
      bytes: size,
      rowGroupRows,
      createdBy: fm.createdBy(),
    };
    fm.free();
    meta.free();
    return info;
  } finally {
    freeQuietly(file);
  }
}
