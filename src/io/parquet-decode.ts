/**
 * Arrow record batches -> plain JS rows, column by column from Arrow's buffers (not through
 * Arrow's row proxies, which are several times slower and keep the batch alive). Handles what
 * vrdata writes and what other tools write: dictionary-encoded strings, large strings/lists,
 * structs (-> objects), nested lists (-> arrays), with float32/int32 lists as typed arrays.
 */
import * as arrow from 'apache-arrow';
import { VrdataError } from '../util/errors.js';
import type { Row } from './schema.js';

const { Type } = arrow;

/** Where a value came from, for error messages. */
interface Where { file: string; column: string; firstRow: number }

function unsafeInt(where: Where, i: number, v: bigint): never {
  throw new VrdataError('parquet', `${where.file}: column ${where.column}, row ${where.firstRow + i}: int64 value ${v} is beyond 2^53 and cannot be a JS number exactly; store it as a string column instead`);
}

function toNumber(v: bigint, where: Where, i: number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) unsafeInt(where, i, v);
  return n;
}

/** Strings of a Utf8/LargeUtf8 Data (offsets already relative to this slice). */
function decodeUtf8(data: arrow.Data, out: unknown[]): void {
  const values = data.values as Uint8Array;
  const buf = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  const big = offsets instanceof BigInt64Array;
  const hasNulls = data.nullCount > 0;
  for (let i = 0; i < data.length; i++) {
    if (hasNulls && !data.getValid(i)) { out[i] = null; continue; }
    const s = big ? Number(offsets[i]) : (offsets[i] as number);
    const e = big ? Number(offsets[i + 1]) : (offsets[i + 1] as number);
    out[i] = buf.toString('utf8', s, e);
  }
}

/** The row ranges of a List/LargeList/FixedSizeList Data. */
function listRange(data: arrow.Data, i: number): [number, number] {
  if (data.typeId === Type.FixedSizeList) {
    const size = (data.type as arrow.FixedSizeList).listSize;
    return [(data.offset + i) * size, (data.offset + i + 1) * size];
  }
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  return [Number(offsets[i]), Number(offsets[i + 1])];
}

function decodeList(data: arrow.Data, where: Where, out: unknown[]): void {
  const child = data.children[0];
  const hasNulls = data.nullCount > 0;
  const ct = child.type;
  // float32/int32 lists without null elements come back as typed arrays (copied, so the batch can be freed)
  const typed = child.nullCount === 0 && (
    (arrow.DataType.isFloat(ct) && ct.precision === arrow.Precision.SINGLE) ||
    (arrow.DataType.isInt(ct) && ct.bitWidth === 32 && ct.isSigned));
  const childValues = typed ? (child.values as Float32Array | Int32Array) : decodeData(child, { ...where, firstRow: 0 });
  for (let i = 0; i < data.length; i++) {
    if (hasNulls && !data.getValid(i)) { out[i] = null; continue; }
    const [s, e] = listRange(data, i);
    out[i] = childValues.slice(s, e);
  }
}

function decodeStruct(data: arrow.Data, where: Where, out: unknown[]): void {
  const fields = (data.type as arrow.Struct).children;
  const cols = data.children.map((c, k) => decodeData(c, { ...where, column: `${where.column}.${fields[k].name}` }));
  const hasNulls = data.nullCount > 0;
  for (let i = 0; i < data.length; i++) {
    if (hasNulls && !data.getValid(i)) { out[i] = null; continue; }
    const o: Record<string, unknown> = {};
    for (let k = 0; k < fields.length; k++) o[fields[k].name] = cols[k][i];
    out[i] = o;
  }
}

function decodeDictionary(data: arrow.Data, where: Where, out: unknown[]): void {
  const dict: unknown[] = [];
  for (const d of data.dictionary?.data ?? []) dict.push(...decodeData(d, where));
  const idx = data.values as ArrayLike<number | bigint>;
  const hasNulls = data.nullCount > 0;
  for (let i = 0; i < data.length; i++) out[i] = hasNulls && !data.getValid(i) ? null : dict[Number(idx[i])];
}

/** Decimals as JS numbers (value / 10^scale): exact up to 2^53, the nearest double beyond. */
function decodeDecimal(data: arrow.Data, out: unknown[]): void {
  const t = data.type as arrow.Decimal;
  const words = data.values as Uint32Array;
  const per = t.bitWidth / 32;
  const scale = 10 ** t.scale;
  const hasNulls = data.nullCount > 0;
  for (let i = 0; i < data.length; i++) {
    if (hasNulls && !data.getValid(i)) { out[i] = null; continue; }
    let v = 0n;
    for (let w = per - 1; w >= 0; w--) v = (v << 32n) | BigInt(words[i * per + w]);
    v = BigInt.asIntN(t.bitWidth, v);
    out[i] = Number(v) / scale;
  }
}

/** Anything else (timestamps, decimals, views, …) through Arrow's own getters, bigints made numbers. */
function decodeGeneric(data: arrow.Data, where: Where, out: unknown[]): void {
  const vec = arrow.makeVector(data);
  for (let i = 0; i < data.length; i++) {
    const v: unknown = vec.get(i);
    out[i] = typeof v === 'bigint' ? toNumber(v, where, i) : v ?? null;
  }
}

/** Decodes one Arrow Data into an array of JS values (null where invalid). */
export function decodeData(data: arrow.Data, where: Where): unknown[] {
  const n = data.length;
  const out = new Array<unknown>(n);
  const hasNulls = data.nullCount > 0;
  switch (data.typeId) {
    case Type.Utf8: case Type.LargeUtf8: decodeUtf8(data, out); return out;
    case Type.List: case Type.LargeList: case Type.FixedSizeList: case Type.Map: decodeList(data, where, out); return out;
    case Type.Struct: decodeStruct(data, where, out); return out;
    case Type.Dictionary: decodeDictionary(data, where, out); return out;
    case Type.Null: out.fill(null); return out;
    case Type.Decimal: decodeDecimal(data, out); return out;
    case Type.Bool: {
      const bits = data.values as Uint8Array;
      for (let i = 0; i < n; i++) {
        const j = data.offset + i;
        out[i] = hasNulls && !data.getValid(i) ? null : (bits[j >> 3] & (1 << (j & 7))) !== 0;
      }
      return out;
    }
    case Type.Int: {
      const values = data.values as ArrayLike<number | bigint>;
      const wide = (data.type as arrow.Int).bitWidth === 64;
      for (let i = 0; i < n; i++) {
        if (hasNulls && !data.getValid(i)) out[i] = null;
        else out[i] = wide ? toNumber(values[i] as bigint, where, i) : values[i];
      }
      return out;
    }
    case Type.Float: {
      if ((data.type as arrow.Float).precision === arrow.Precision.HALF) { decodeGeneric(data, where, out); return out; }
      const values = data.values as Float32Array | Float64Array;
      for (let i = 0; i < n; i++) out[i] = hasNulls && !data.getValid(i) ? null : values[i];
      return out;
    }
    case Type.Binary: case Type.LargeBinary: {
      const values = data.values as Uint8Array;
      const offsets = data.valueOffsets as Int32Array | BigInt64Array;
      for (let i = 0; i < n; i++) {
        out[i] = hasNulls && !data.getValid(i) ? null : values.slice(Number(offsets[i]), Number(offsets[i + 1]));
      }
      return out;
    }
    default: decodeGeneric(data, where, out); return out;
  }
}

/**
 * Decodes a record batch into rows (objects with the batch's column names, in schema order).
 * `firstRow` is the batch's first row index in the file, for error messages.
 */
export function decodeBatch(batch: arrow.RecordBatch, file: string, firstRow: number): Row[] {
  const fields = batch.schema.fields;
  const cols = fields.map((f, k) => decodeData(batch.data.children[k], { file, column: f.name, firstRow }));
  const rows = new Array<Row>(batch.numRows);
  for (let i = 0; i < batch.numRows; i++) {
    const r: Row = {};
    for (let k = 0; k < fields.length; k++) r[fields[k].name] = cols[k][i];
    rows[i] = r;
  }
  return rows;
}

/** A column type in vrdata's words where it is one ('list<float32>'), else Arrow's own name. */
export function typeName(type: arrow.DataType): string {
  if (arrow.DataType.isDictionary(type)) return typeName(type.dictionary);
  switch (type.typeId) {
    case Type.Utf8: case Type.LargeUtf8: case Type.Utf8View: return 'string';
    case Type.Bool: return 'bool';
    case Type.Int: {
      const t = type as arrow.Int;
      return `${t.isSigned ? 'int' : 'uint'}${t.bitWidth}`;
    }
    case Type.Float: {
      const p = (type as arrow.Float).precision;
      return p === arrow.Precision.SINGLE ? 'float32' : p === arrow.Precision.DOUBLE ? 'float64' : 'float16';
    }
    case Type.List: case Type.LargeList: case Type.FixedSizeList:
      return `list<${typeName(type.children[0].type)}>`;
    case Type.Struct:
      return `struct<${type.children.map((f: arrow.Field) => `${f.name}: ${typeName(f.type)}`).join(', ')}>`;
    default: return String(type);
  }
}
