/**
 * Rows -> one Arrow record batch (as IPC stream bytes), column by column straight into Arrow
 * buffers. Building `Data` directly instead of through Arrow's builders is what makes the writer
 * keep pace with DuckDB: strings go through one native Buffer.write each, float lists through
 * one TypedArray.set each.
 */
import * as arrow from 'apache-arrow';
import type { Column, ColumnType, Row, Schema } from './schema.js';

/** The Arrow type vrdata writes for a column type (list children are non-nullable 'item'). */
export function arrowType(type: ColumnType): arrow.DataType {
  switch (type) {
    case 'string': return new arrow.Utf8();
    case 'int32': return new arrow.Int32();
    case 'int64': return new arrow.Int64();
    case 'float32': return new arrow.Float32();
    case 'float64': return new arrow.Float64();
    case 'bool': return new arrow.Bool();
    case 'list<float32>': return new arrow.List(new arrow.Field('item', new arrow.Float32(), false));
    case 'list<int32>': return new arrow.List(new arrow.Field('item', new arrow.Int32(), false));
    case 'list<string>': return new arrow.List(new arrow.Field('item', new arrow.Utf8(), false));
  }
}

/** The Arrow schema for a vrdata schema; `doc` goes into each field's metadata. */
export function arrowSchema(schema: Schema): arrow.Schema {
  return new arrow.Schema(schema.map((c) => new arrow.Field(
    c.name, arrowType(c.type), c.nullable === true, c.doc ? new Map([['doc', c.doc]]) : undefined,
  )));
}

/** Validity bitmap (bit set = value present) and null count of one column, or none when no nulls. */
function validity(values: unknown[]): { bitmap?: Uint8Array; nullCount: number } {
  let nullCount = 0;
  for (const v of values) if (v === null || v === undefined) nullCount++;
  if (nullCount === 0) return { nullCount };
  const bitmap = new Uint8Array((values.length + 7) >> 3);
  for (let i = 0; i < values.length; i++) if (values[i] !== null && values[i] !== undefined) bitmap[i >> 3] |= 1 << (i & 7);
  return { bitmap, nullCount };
}

/** UTF-8 bytes and offsets of strings (null -> empty slot). */
function utf8Buffers(values: unknown[]): { offsets: Int32Array; data: Uint8Array } {
  const offsets = new Int32Array(values.length + 1);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const s = values[i];
    if (typeof s === 'string') total += Buffer.byteLength(s, 'utf8');
    if (total > 0x7fffffff) throw new RangeError('more than 2 GiB of strings in one row group');
    offsets[i + 1] = total;
  }
  const data = Buffer.allocUnsafe(total);
  for (let i = 0; i < values.length; i++) {
    const s = values[i];
    if (typeof s === 'string') data.write(s, offsets[i], 'utf8');
  }
  return { offsets, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

function stringData(values: unknown[], v: { bitmap?: Uint8Array; nullCount: number }): arrow.Data<arrow.Utf8> {
  const { offsets, data } = utf8Buffers(values);
  return arrow.makeData({ type: new arrow.Utf8(), length: values.length, nullCount: v.nullCount, nullBitmap: v.bitmap, valueOffsets: offsets, data });
}

/** List offsets over the element counts of each row (null -> empty). */
function listOffsets(values: unknown[]): Int32Array {
  const offsets = new Int32Array(values.length + 1);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const l = values[i] as ArrayLike<unknown> | null | undefined;
    if (l != null) total += l.length;
    offsets[i + 1] = total;
  }
  return offsets;
}

function fillNumbers<T extends Int32Array | Float32Array | Float64Array>(out: T, values: unknown[]): T {
  for (let i = 0; i < values.length; i++) { const x = values[i]; if (typeof x === 'number') out[i] = x; }
  return out;
}

function columnData(col: Column, values: unknown[]): arrow.Data {
  const n = values.length;
  const v = validity(values);
  const base = { length: n, nullCount: v.nullCount, nullBitmap: v.bitmap };
  switch (col.type) {
    case 'string': return stringData(values, v);
    case 'int32': return arrow.makeData({ type: new arrow.Int32(), ...base, data: fillNumbers(new Int32Array(n), values) });
    case 'float32': return arrow.makeData({ type: new arrow.Float32(), ...base, data: fillNumbers(new Float32Array(n), values) });
    case 'float64': return arrow.makeData({ type: new arrow.Float64(), ...base, data: fillNumbers(new Float64Array(n), values) });
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) { const x = values[i]; if (typeof x === 'number' || typeof x === 'bigint') out[i] = BigInt(x); }
      return arrow.makeData({ type: new arrow.Int64(), ...base, data: out });
    }
    case 'bool': {
      const out = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) if (values[i] === true) out[i >> 3] |= 1 << (i & 7);
      return arrow.makeData({ type: new arrow.Bool(), ...base, data: out });
    }
    case 'list<float32>': case 'list<int32>': {
      const offsets = listOffsets(values);
      const total = offsets[n];
      const child = col.type === 'list<float32>' ? new Float32Array(total) : new Int32Array(total);
      for (let i = 0; i < n; i++) {
        const l = values[i] as ArrayLike<number> | null | undefined;
        if (l != null) child.set(l, offsets[i]);
      }
      const childData: arrow.Data = child instanceof Float32Array
        ? arrow.makeData({ type: new arrow.Float32(), length: total, nullCount: 0, data: child })
        : arrow.makeData({ type: new arrow.Int32(), length: total, nullCount: 0, data: child });
      return arrow.makeData({ type: arrowType(col.type) as arrow.List, ...base, valueOffsets: offsets, child: childData });
    }
    case 'list<string>': {
      const offsets = listOffsets(values);
      const flat: string[] = [];
      for (const l of values) if (Array.isArray(l)) for (const s of l) flat.push(s as string);
      const childData = stringData(flat, { nullCount: 0 });
      return arrow.makeData({ type: arrowType(col.type) as arrow.List, ...base, valueOffsets: offsets, child: childData });
    }
  }
}

/**
 * Encodes already-validated rows as an Arrow IPC stream holding one record batch. Missing keys
 * become nulls; the caller has checked that only nullable columns have them.
 */
export function encodeBatch(schema: Schema, aSchema: arrow.Schema, rows: readonly Row[]): Uint8Array {
  const children = schema.map((col) => columnData(col, rows.map((r) => r[col.name])));
  const structData = arrow.makeData({ type: new arrow.Struct(aSchema.fields), length: rows.length, nullCount: 0, children });
  const batch = new arrow.RecordBatch(aSchema, structData);
  return arrow.tableToIPC(new arrow.Table(aSchema, [batch]), 'stream');
}
