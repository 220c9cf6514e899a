import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import * as pw from 'parquet-wasm';
import { ParquetWriter, readAllRows, readInfo, readRows } from '../../src/io/parquet.js';
import type { Row, Schema } from '../../src/io/schema.js';
import { VrdataError } from '../../src/util/errors.js';
import { canon, duck, duckRun, tempDir } from './helpers.js';

const ALL: Schema = [
  { name: 'sample_id', type: 'string', doc: 'stable hash of the source row' },
  { name: 'i32', type: 'int32' },
  { name: 'i64', type: 'int64' },
  { name: 'f32', type: 'float32' },
  { name: 'f64', type: 'float64' },
  { name: 'flag', type: 'bool' },
  { name: 'lp', type: 'list<float32>' },
  { name: 'ids', type: 'list<int32>' },
  { name: 'tags', type: 'list<string>' },
  { name: 'n_str', type: 'string', nullable: true },
  { name: 'n_i64', type: 'int64', nullable: true },
  { name: 'n_f64', type: 'float64', nullable: true },
  { name: 'n_bool', type: 'bool', nullable: true },
  { name: 'n_lp', type: 'list<float32>', nullable: true },
  { name: 'n_ids', type: 'list<int32>', nullable: true },
  { name: 'n_tags', type: 'list<string>', nullable: true },
];

function allRows(): Row[] {
  return [
    {
      sample_id: 'a', i32: 2147483647, i64: Number.MAX_SAFE_INTEGER, f32: 1.5, f64: Math.PI, flag: true,
      lp: [0, -1.25, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], ids: [1, -2, 3],
      tags: ['x', ''], n_str: 'π ≈ 3.14159 — 数学 🚀', n_i64: -5, n_f64: Number.NaN, n_bool: false,
      n_lp: new Float32Array([0.1, 0.2]), n_ids: new Int32Array([7]), n_tags: ['é'],
    },
    {
      sample_id: '', i32: -2147483648, i64: Number.MIN_SAFE_INTEGER, f32: -0.1, f64: Number.POSITIVE_INFINITY, flag: false,
      lp: [], ids: [], tags: [], n_str: null, n_i64: null, n_f64: null, n_bool: null, n_lp: null, n_ids: null, n_tags: null,
    },
    {
      // missing keys of nullable columns are nulls
      sample_id: 'c\n"quoted"\t\u0000', i32: 0, i64: 0, f32: 0, f64: -0.5, flag: true,
      lp: new Float32Array([3.25]), ids: new Int32Array([0]), tags: ['z'.repeat(10_000)], n_str: '', n_lp: [], n_tags: [],
    },
  ];
}

/** What the reader must return for a written row: float32 rounding, typed lists, nulls for missing keys. */
function expected(schema: Schema, row: Row): Row {
  const out: Row = {};
  for (const c of schema) {
    const v = row[c.name];
    if (v === null || v === undefined) { out[c.name] = null; continue; }
    if (c.type === 'float32') out[c.name] = Math.fround(v as number);
    else if (c.type === 'list<float32>') out[c.name] = Float32Array.from(v as ArrayLike<number>);
    else if (c.type === 'list<int32>') out[c.name] = Int32Array.from(v as ArrayLike<number>);
    else out[c.name] = v;
  }
  return out;
}

async function writeFileRows(path: string, schema: Schema, rows: Row[], opts: { rowGroupRows?: number; compression?: 'zstd' | 'snappy' | 'uncompressed' } = {}) {
  const w = await ParquetWriter.open(path, { schema, ...opts });
  await w.write(rows);
  return w.close();
}

test('every column type round-trips through vrdata and DuckDB reads the same values', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const compression of ['zstd', 'snappy', 'uncompressed'] as const) {
      const path = join(dir, `all-${compression}.parquet`);
      const rows = allRows();
      const res = await writeFileRows(path, ALL, rows, { compression });
      assert.equal(res.rows, 3);
      const bytes = await readFile(path);
      assert.equal(res.bytes, bytes.length);
      assert.equal(res.sha256, createHash('sha256').update(bytes).digest('hex'));

      const back = await readAllRows(path);
      assert.deepStrictEqual(back, rows.map((r) => expected(ALL, r)));
      assert.ok(back[0].lp instanceof Float32Array && back[0].ids instanceof Int32Array);

      const viaDuck = await duck(`SELECT * FROM read_parquet('${path}')`);
      assert.equal(viaDuck.length, rows.length);
      for (let i = 0; i < rows.length; i++) {
        for (const c of ALL) {
          assert.deepStrictEqual(canon(viaDuck[i][c.name]), canon(expected(ALL, rows[i])[c.name]), `${compression} row ${i} column ${c.name}`);
        }
      }
      const types = await duck(`SELECT name, type FROM parquet_schema('${path}') WHERE name IN ('i64', 'f32')`);
      assert.deepStrictEqual(types.map((t) => t.type).sort(), ['FLOAT', 'INT64']);
      const codec = await duck(`SELECT DISTINCT compression FROM parquet_metadata('${path}')`);
      assert.deepStrictEqual(codec.map((c) => c.compression), [compression.toUpperCase()]);
    }
  } finally {
    await cleanup();
  }
});

test('readInfo reports vrdata type names, rows, row groups and bytes', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, 'info.parquet');
    await writeFileRows(path, ALL, [...allRows(), ...allRows()], { rowGroupRows: 4 });
    const info = await readInfo(path);
    assert.equal(info.rows, 6);
    assert.equal(info.rowGroups, 2);
    assert.deepStrictEqual(info.rowGroupRows, [4, 2]);
    assert.equal(info.bytes, (await stat(path)).size);
    assert.deepStrictEqual(info.columns.map((c) => c.type), ALL.map((c) => c.type));
    assert.deepStrictEqual(info.columns.map((c) => c.nullable), ALL.map((c) => c.nullable === true));
  } finally {
    await cleanup();
  }
});

test('write rejects rows that do not fit the schema, naming column and row, and keeps nothing of them', async () => {
  const { dir, cleanup } = await tempDir();
  const schema: Schema = [{ name: 'id', type: 'int64' }, { name: 'lp', type: 'list<float32>' }, { name: 'note', type: 'string', nullable: true }];
  try {
    const path = join(dir, 'bad.parquet');
    const w = await ParquetWriter.open(path, { schema });
    await w.write([{ id: 1, lp: [1] }]);
    const cases: [Row, RegExp][] = [
      [{ id: '2', lp: [] }, /column id, row 1: expected a safe integer .*got string "2"/],
      [{ id: 2 ** 53, lp: [] }, /column id, row 1: expected a safe integer/],
      [{ id: 2, lp: [1, 'x'] }, /column lp, row 1: expected a number\[\] or Float32Array, got array whose element 1 is string "x"/],
      [{ id: null, lp: [] }, /column id, row 1: expected .*got null; fill it or declare the column nullable/],
      [{ lp: [] }, /column id, row 1: .*missing key/],
      [{ id: 2, lp: [], extra: 1 }, /row 1 has column 'extra', which is not in the schema/],
      [{ id: 2, lp: [], note: 5 }, /column note, row 1: expected a string, got integer 5/],
    ];
    for (const [row, re] of cases) {
      await assert.rejects(w.write([row]), (err: unknown) => err instanceof VrdataError && re.test(err.message) && err.message.startsWith('parquet: '));
    }
    await w.write([{ id: 2, lp: new Float32Array(0), note: 'ok' }]);
    const res = await w.close();
    assert.equal(res.rows, 2);
    assert.deepStrictEqual(canon(await readAllRows(path)), [{ id: 1, lp: [1], note: null }, { id: 2, lp: [], note: 'ok' }]);
    await assert.rejects(w.write([{ id: 3, lp: [] }]), /after close/);
    await assert.rejects(ParquetWriter.open(join(dir, 'x.parquet'), { schema: [{ name: 'Bad Name', type: 'string' }] }), /not snake_case/);
    await assert.rejects(ParquetWriter.open(join(dir, 'no', 'such', 'x.parquet'), { schema }), /cannot create .*folder exists/);
  } finally {
    await cleanup();
  }
});

test('abort deletes the partial file; a zero-row file is valid and reads as no rows', async () => {
  const { dir, cleanup } = await tempDir();
  const schema: Schema = [{ name: 'id', type: 'int32' }, { name: 'text', type: 'string' }];
  try {
    const partial = join(dir, 'partial.parquet');
    const w = await ParquetWriter.open(partial, { schema, rowGroupRows: 2 });
    await w.write([{ id: 1, text: 'a' }, { id: 2, text: 'b' }, { id: 3, text: 'c' }]);
    await w.abort();
    await assert.rejects(access(partial));
    await w.abort(); // twice is fine

    const empty = join(dir, 'empty-rows.parquet');
    const res = await writeFileRows(empty, schema, []);
    assert.equal(res.rows, 0);
    assert.deepStrictEqual(await readAllRows(empty), []);
    assert.equal((await readInfo(empty)).rows, 0);
    assert.deepStrictEqual(await duck(`SELECT count(*)::INT AS n FROM read_parquet('${empty}')`), [{ n: 0 }]);
    await assert.rejects(readAllRows(empty, { requireRows: true }), /has zero rows; check the step that wrote it/);
  } finally {
    await cleanup();
  }
});

test('readRows streams one batch per row group, reads only the columns asked for, with bounded wasm memory', async () => {
  const { dir, cleanup } = await tempDir();
  const schema: Schema = [{ name: 'id', type: 'int64' }, { name: 'text', type: 'string' }, { name: 'lp', type: 'list<float32>' }];
  try {
    const path = join(dir, 'groups.parquet');
    const w = await ParquetWriter.open(path, { schema, rowGroupRows: 50 });
    // 20 row groups of ~1.2 MB each; written in uneven pieces to check group boundaries do not follow write calls
    let id = 0;
    const make = (n: number) => Array.from({ length: n }, () => {
      const i = id++;
      return { id: i, text: `${i}:`.padEnd(20_000, String.fromCharCode(97 + (i % 26))), lp: Float32Array.from({ length: 1000 }, (_, k) => i + k / 1000) };
    });
    for (const n of [7, 93, 150, 1, 749]) await w.write(make(n));
    const res = await w.close();
    assert.equal(res.rows, 1000);
    const info = await readInfo(path);
    assert.deepStrictEqual(info.rowGroupRows, Array(20).fill(50));
    const duckGroups = await duck(`SELECT count(DISTINCT row_group_id)::INT AS g FROM parquet_metadata('${path}')`);
    assert.deepStrictEqual(duckGroups, [{ g: 20 }]);

    let batches = 0;
    let next = 0;
    let memAfterFirst = 0;
    for await (const rows of readRows(path)) {
      assert.equal(rows.length, 50);
      for (const r of rows) {
        assert.equal(r.id, next);
        assert.equal((r.text as string).length, 20_000);
        assert.equal((r.lp as Float32Array)[999], Math.fround(next + 0.999));
        next++;
      }
      if (++batches === 1) memAfterFirst = pw.wasmMemory().buffer.byteLength;
    }
    assert.equal(batches, 20);
    // 24 MB of data went through; wasm memory may grow a little after the first group, not by the file
    const grown = pw.wasmMemory().buffer.byteLength - memAfterFirst;
    assert.ok(grown < 8 * 1024 * 1024, `wasm memory grew by ${grown} bytes while streaming`);

    const ids: Row[] = [];
    for await (const rows of readRows(path, { columns: ['id'], batchRows: 16 })) {
      assert.ok(rows.length <= 16 && rows.length > 0);
      for (const r of rows) ids.push(r);
    }
    assert.equal(ids.length, 1000);
    assert.deepStrictEqual(Object.keys(ids[0]), ['id']);
    assert.deepStrictEqual(ids.map((r) => r.id), Array.from({ length: 1000 }, (_, i) => i));
    await assert.rejects(readAllRows(path, { columns: ['id', 'nope'] }), /has no column nope; it has id, text, lp/);
  } finally {
    await cleanup();
  }
});

test('reads Parquet written by DuckDB: list<struct> conversations, dictionary strings, zstd and snappy', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const codec of ['zstd', 'snappy']) {
      const path = join(dir, `stratos-${codec}.parquet`);
      await duckRun(`COPY (
        SELECT 'You are a helpful assistant.' AS system,
               [{'from': 'user', 'value': 'What is ' || i || '+1?'}, {'from': 'assistant', 'value': '<|begin_of_thought|>' || repeat('x', i) || '<|end_of_thought|>'}] AS conversations,
               i::BIGINT AS idx, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 0.5 END AS score,
               [i::FLOAT, 0.5::FLOAT] AS lp, [i, i + 1]::INTEGER[] AS ids, i % 2 = 0 AS even
        FROM range(0, 300) t(i)
      ) TO '${path}' (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE 100)`);
      const rows = await readAllRows(path);
      assert.equal(rows.length, 300);
      assert.deepStrictEqual(rows[7], {
        system: 'You are a helpful assistant.',
        conversations: [{ from: 'user', value: 'What is 7+1?' }, { from: 'assistant', value: '<|begin_of_thought|>xxxxxxx<|end_of_thought|>' }],
        idx: 7, score: 3.5, lp: new Float32Array([7, 0.5]), ids: new Int32Array([7, 8]), even: false,
      });
      assert.equal(rows[6].score, null);
      const info = await readInfo(path);
      assert.equal(info.rows, 300);
      const conv = info.columns.find((c) => c.name === 'conversations');
      assert.equal(conv?.type, 'list<struct<from: string, value: string>>');
      const only = await readAllRows(path, { columns: ['conversations'] });
      assert.deepStrictEqual(Object.keys(only[0]), ['conversations']);
    }
  } finally {
    await cleanup();
  }
});

test('bad files give one clear parquet error naming the file and the fix', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const good = join(dir, 'good.parquet');
    await writeFileRows(good, [{ name: 'text', type: 'string' }], Array.from({ length: 100 }, () => ({ text: randomBytes(200).toString('hex') })));
    const bytes = await readFile(good);
    // the first column chunk's pages (the page index and footer after them stay intact)
    const scrambled = Buffer.from(bytes);
    scrambled.fill(0xab, 4, 8_000);
    assert.ok(bytes.length > 16_000);
    const cases: [string, Buffer | string | null, RegExp][] = [
      ['empty.parquet', Buffer.alloc(0), /empty\.parquet is empty \(0 bytes\).*rerun/],
      ['text.parquet', 'id,text\n1,hello\n', /text\.parquet is not a Parquet file \(it does not start with PAR1\)/],
      ['truncated.parquet', bytes.subarray(0, Math.floor(bytes.length / 2)), /truncated\.parquet is truncated \(no Parquet footer/],
      ['tiny.parquet', Buffer.from('PAR1'), /tiny\.parquet is truncated/],
      // footer intact, column data overwritten: the decoder's own error, wrapped
      ['scrambled.parquet', scrambled, /cannot read row group 0 of .*scrambled\.parquet.*re-create it/],
      ['missing.parquet', null, /cannot open .*missing\.parquet.*check the path/],
    ];
    for (const [name, content, re] of cases) {
      const path = join(dir, name);
      if (content !== null) await writeFile(path, content);
      // the scrambled file's footer is intact, so only reading its rows fails
      const reads = name === 'scrambled.parquet' ? [() => readAllRows(path)] : [() => readAllRows(path), () => readInfo(path)];
      for (const read of reads) {
        await assert.rejects(read(), (err: unknown) => {
          assert.ok(err instanceof VrdataError, `${name}: ${String(err)}`);
          assert.match(err.message, /^parquet: /);
          assert.match(err.message, re);
          assert.doesNotMatch(err.message, /\n|wasm|unreachable|RuntimeError/);
          if (process.env.VRDATA_TEST_VERBOSE) console.log(err.message);
          return true;
        });
      }
    }
    await assert.rejects(readAllRows(dir), /is a folder, not a Parquet file/);
    // the decoder still works after failing on the scrambled file
    assert.equal((await readAllRows(good)).length, 100);
  } finally {
    await cleanup();
  }
});
