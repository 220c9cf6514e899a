/**
 * Column types of every table vrdata writes: the single source of truth. A stage declares its
 * output as a `Schema`; the Parquet writer checks each row against it and the reader gives the
 * same JS values back (see `ColumnType` for the value each type maps to).
 */
import { VrdataError } from '../util/errors.js';

/**
 * One column's type. JS values: string -> string; int32, int64, float32, float64 -> number
 * (int64 must be a safe integer); bool -> boolean; list<float32> -> Float32Array on read
 * (number[] or Float32Array on write); list<int32> -> Int32Array on read (number[] or Int32Array
 * on write); list<string> -> string[]. null (or a missing key) only where the column is nullable.
 */
export type ColumnType =
  | 'string'
  | 'int32'
  | 'int64'
  | 'float32'
  | 'float64'
  | 'bool'
  | 'list<float32>'
  | 'list<int32>'
  | 'list<string>';

/** A declared column; `doc` is stored in the Parquet file's field metadata. */
export interface Column {
  name: string;
  type: ColumnType;
  nullable?: boolean;
  doc?: string;
}

/** An ordered list of columns; the file's columns come out in this order. */
export type Schema = readonly Column[];

/** One row: column name -> value (see `ColumnType`). */
export type Row = Record<string, unknown>;

/** Every ColumnType, in declaration order (for help texts and checks). */
export const COLUMN_TYPES: readonly ColumnType[] = [
  'string', 'int32', 'int64', 'float32', 'float64', 'bool', 'list<float32>', 'list<int32>', 'list<string>',
];

const NAME_RE = /^[a-z_][a-z0-9_]*$/;

/** Throws a VrdataError unless names are unique snake_case and every type is a ColumnType. */
export function checkSchema(schema: Schema, where = 'schema'): void {
  if (schema.length === 0) throw new VrdataError('parquet', `${where} has no columns; declare at least one column`);
  const seen = new Set<string>();
  for (const col of schema) {
    if (!NAME_RE.test(col.name)) {
      throw new VrdataError('parquet', `${where}: column name '${col.name}' is not snake_case; use lower-case letters, digits and _`);
    }
    if (seen.has(col.name)) throw new VrdataError('parquet', `${where}: column '${col.name}' is declared twice; remove one`);
    seen.add(col.name);
    if (!COLUMN_TYPES.includes(col.type)) {
      throw new VrdataError('parquet', `${where}: column '${col.name}' has unknown type '${String(col.type)}'; use one of ${COLUMN_TYPES.join(', ')}`);
    }
  }
}

/** Describes a JS value in a few words for error messages ("string of 12 chars", "null", "array of 3"). */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing (missing key)';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `integer ${v}` : `number ${v}`;
  if (typeof v === 'bigint') return `bigint ${v}`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name} of ${(v as unknown as ArrayLike<unknown>).length ?? '?'}`;
  if (typeof v === 'object') return `object {${Object.keys(v as object).slice(0, 4).join(', ')}}`;
  return typeof v;
}

/** What a value of this type must look like, for error messages. */
export function expectedText(type: ColumnType): string {
  switch (type) {
    case 'string': return 'a string';
    case 'int32': return 'an integer in [-2^31, 2^31)';
    case 'int64': return 'a safe integer (|n| <= 2^53-1)';
    case 'float32':
    case 'float64': return 'a number';
    case 'bool': return 'a boolean';
    case 'list<float32>': return 'a number[] or Float32Array';
    case 'list<int32>': return 'a number[] or Int32Array of int32 integers';
    case 'list<string>': return 'a string[]';
  }
}

/**
 * Checks one non-null value against its type. Returns undefined when it fits, else what was
 * found (e.g. 'array whose element 3 is string "a"') to put after "got".
 */
export function checkValue(type: ColumnType, v: unknown): string | undefined {
  switch (type) {
    case 'string': return typeof v === 'string' ? undefined : describeValue(v);
    case 'int32': return typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? undefined : describeValue(v);
    case 'int64':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return undefined;
      if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
      return describeValue(v);
    case 'float32':
    case 'float64': return typeof v === 'number' ? undefined : describeValue(v);
    case 'bool': return typeof v === 'boolean' ? undefined : describeValue(v);
    case 'list<float32>': {
      if (v instanceof Float32Array || v instanceof Float64Array) return undefined;
      if (!Array.isArray(v)) return describeValue(v);
      for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'number') return `array whose element ${i} is ${describeValue(v[i])}`;
      return undefined;
    }
    case 'list<int32>': {
      if (v instanceof Int32Array) return undefined;
      if (!Array.isArray(v)) return describeValue(v);
      for (let i = 0; i < v.length; i++) {
        const e = v[i];
        if (typeof e !== 'number' || !Number.isInteger(e) || e < -2147483648 || e > 2147483647) return `array whose element ${i} is ${describeValue(e)}`;
      }
      return undefined;
    }
    case 'list<string>': {
      if (!Array.isArray(v)) return describeValue(v);
      for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return `array whose element ${i} is ${describeValue(v[i])}`;
      return undefined;
    }
  }
}
