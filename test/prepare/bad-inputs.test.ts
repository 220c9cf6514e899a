/**
 * A corpus of bad inputs for `prepare`, generated here into a temp folder. Each one gives either a
 * clear VrdataError (exit 1 or 2, naming the file and saying what to do, no stack trace) or
 * quarantine rows with a reason, while the good rows beside them still come through. Errors are
 * checked in-process and again through the real CLI; every spawn has a timeout, so nothing hangs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, mkdir, open } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { duckdbRows, duckdbRun, sqlString } from '../helpers/duckdb.js';
import { runCli, hasStackTrace } from '../helpers/cli.js';
import { prepareInProcess } from '../helpers/prepare.js';
import { VrdataError } from '../../src/util/errors.js';

const good = (i: number, extra: Record<string, unknown> = {}) => ({
  system: 'sys',
  conversations: [
    { from: 'user', value: `What is ${i} + ${i}?` },
    { from: 'assistant', value: `<|begin_of_thought|>\n\nadd\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{${2 * i}}\n\n<|end_of_solution|>` },
  ],
  ...extra,
});
const withAssistant = (text: string) => ({ conversations: [{ from: 'user', value: 'Q?' }, { from: 'assistant', value: text }] });
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const HINT = /\b(give|remove|re-encode|rename|check|delete|fix|move|name|convert|raise|re-create)\b/i;

interface ErrorCase {
  name: string;
  make(dir: string): Promise<string[]>;
  exitCode: 1 | 2;
  message: RegExp;
  /** What the message must name (default: the base name of the first input). */
  names?: string;
}

const errorCases: ErrorCase[] = [
  { name: 'empty .jsonl file', exitCode: 1, message: /is empty\. Remove it or give a file with rows/, make: async (d) => [await put(d, 'empty.jsonl', '')] },
  { name: 'empty .parquet file (0 bytes)', exitCode: 1, message: /is empty/, make: async (d) => [await put(d, 'empty.parquet', '')] },
  {
    name: 'truncated Parquet', exitCode: 1, message: /truncated/,
    make: async (d) => {
      const p = await duckParquet(d, 'cut.parquet', `SELECT 'q' || range AS question, '1' AS answer FROM range(2000)`);
      const bytes = await readFile(p);
      await writeFile(p, bytes.subarray(0, bytes.length >> 1));
      return [p];
    },
  },
  {
    name: 'Parquet with a corrupted footer', exitCode: 1, message: /corrupt/,
    make: async (d) => {
      const p = await duckParquet(d, 'mangled.parquet', `SELECT 'q' || range AS question, '1' AS answer FROM range(100)`);
      const bytes = await readFile(p);
      const footer = bytes.readUInt32LE(bytes.length - 8);
      for (let i = bytes.length - 8 - footer; i < bytes.length - 8; i++) bytes[i] = (bytes[i]! * 7 + 3) & 0xff;
      await writeFile(p, bytes);
      return [p];
    },
  },
  { name: 'not-Parquet bytes named .parquet', exitCode: 1, message: /is not a Parquet file/, make: async (d) => [await put(d, 'fake.parquet', jsonl([good(1)]))] },
  { name: 'Parquet with zero rows', exitCode: 1, message: /holds no rows\. Give source files with at least one row/, make: async (d) => [await duckParquet(d, 'zero.parquet', `SELECT 'q' AS question, '1' AS answer WHERE false`)] },
  { name: 'JSON that is an empty array', exitCode: 1, message: /holds no rows/, make: async (d) => [await put(d, 'none.json', '[]')] },
  { name: 'JSONL of blank lines only', exitCode: 1, message: /holds no rows/, make: async (d) => [await put(d, 'blank.jsonl', '\n  \n\r\n')] },
  { name: 'invalid UTF-8 in a JSON file', exitCode: 1, message: /is not valid UTF-8\. Re-encode it as UTF-8/, make: async (d) => [await put(d, 'latin1.json', Buffer.concat([Buffer.from('[{"question": "caf'), Buffer.from([0xe9]), Buffer.from('", "answer": "1"}]')]))] },
  { name: 'JSON object without a rows array', exitCode: 1, message: /must hold a JSON array of rows \(or an object with a "data" or "rows" array\), but holds an object with keys meta, items\. Convert it/, make: async (d) => [await put(d, 'obj.json', JSON.stringify({ meta: { n: 1 }, items: 'none' }))] },
  { name: 'a JSON file that is really JSONL', exitCode: 1, message: /holds one JSON object per line: rename it to \.jsonl/, make: async (d) => [await put(d, 'lines.json', jsonl([good(1), good(2)]))] },
  { name: 'a JSON file cut off mid-way', exitCode: 1, message: /is not valid JSON .*Fix the file or export it again/, make: async (d) => [await put(d, 'cut.json', JSON.stringify([good(1), good(2)]).slice(0, 150))] },
  {
    name: 'a folder mixing .jsonl, .parquet and .txt', exitCode: 2, message: /cannot read .*notes\.txt: only \.parquet, \.json and \.jsonl are understood\. Move other files out/, names: 'notes.txt',
    make: async (d) => {
      const dir = join(d, 'mixed');
      await mkdir(dir);
      await put(dir, 'a.jsonl', jsonl([good(1)]));
      await duckParquet(dir, 'b.parquet', `SELECT 'q' AS question, '1' AS answer`);
      await put(dir, 'notes.txt', 'hello');
      return [dir];
    },
  },
  {
    name: 'an empty folder', exitCode: 2, message: /no \.parquet, \.json or \.jsonl file in/,
    make: async (d) => {
      await mkdir(join(d, 'nothing-here'));
      return [join(d, 'nothing-here')];
    },
  },
  { name: 'a path that does not exist', exitCode: 2, message: /does not exist\. Check the path/, make: async (d) => [join(d, 'no-such-file.jsonl')] },
  { name: 'a file in an unknown format', exitCode: 2, message: /cannot read .*data\.csv: only \.parquet, \.json and \.jsonl/, make: async (d) => [await put(d, 'data.csv', 'question,answer\nq,1\n')] },
];

interface QuarantineCase {
  name: string;
  make(dir: string): Promise<string[]>;
  /** row_index -> reason pattern, for every quarantined row. */
  quarantined: Record<number, RegExp>;
  /** row_indexes that must become samples. */
  samples: number[];
  check?(samples: Record<string, unknown>[]): void;
}

const quarantineCases: QuarantineCase[] = [
  { name: 'question is a number', quarantined: { 1: /^question column is a number, expected a string$/ }, samples: [0], make: async (d) => [await put(d, 'q.jsonl', jsonl([{ question: 'ok?', answer: '1' }, { question: 7, answer: '1' }]))] },
  { name: 'question is null', quarantined: { 0: /^question column is null, expected a string$/ }, samples: [1], make: async (d) => [await put(d, 'q.jsonl', jsonl([{ question: null, answer: '1' }, { question: 'ok?', answer: '1' }]))] },
  { name: 'question is empty', quarantined: { 0: /^question is empty$/ }, samples: [], make: async (d) => [await put(d, 'q.jsonl', jsonl([{ question: '  ', answer: '1' }]))] },
  { name: 'conversations is a string', quarantined: { 0: /^conversations is not a list$/ }, samples: [1], make: async (d) => [await put(d, 'c.jsonl', jsonl([{ conversations: 'user: hi' }, good(1)]))] },
  { name: 'missing user turn', quarantined: { 0: /no user turn/ }, samples: [], make: async (d) => [await put(d, 'c.jsonl', jsonl([{ conversations: [good(1).conversations[1]] }]))] },
  { name: 'missing assistant turn', quarantined: { 0: /no assistant turn/ }, samples: [], make: async (d) => [await put(d, 'c.jsonl', jsonl([{ conversations: [good(1).conversations[0]] }]))] },
  { name: 'turn value is a number', quarantined: { 0: /the user turn has no string "value"/ }, samples: [], make: async (d) => [await put(d, 'c.jsonl', jsonl([{ conversations: [{ from: 'user', value: 5 }, good(1).conversations[1]] }]))] },
  {
    name: 'unbalanced tags', samples: [],
    quarantined: { 0: /unbalanced tags: <\|end_of_thought\|> comes before <\|begin_of_thought\|>/, 1: /unbalanced tags: <\|end_of_solution\|> comes before <\|begin_of_solution\|>/, 2: /does not start a thought/, 3: /has no solution/ },
    make: async (d) => [await put(d, 't.jsonl', jsonl([
      withAssistant('<|end_of_thought|>x<|begin_of_thought|><|begin_of_solution|>\\boxed{1}<|end_of_solution|>'),
      withAssistant('<|begin_of_thought|>x<|end_of_thought|><|end_of_solution|>\\boxed{1}<|begin_of_solution|>'),
      withAssistant('just an answer \\boxed{1}'),
      withAssistant('<|begin_of_thought|>x<|end_of_thought|> \\boxed{1}'),
    ]))],
  },
  { name: 'two <|end_of_thought|>', quarantined: { 0: /response has 2 <\|end_of_thought\|> markers, expected one/ }, samples: [], make: async (d) => [await put(d, 't.jsonl', jsonl([withAssistant('<|begin_of_thought|>a<|end_of_thought|>b<|end_of_thought|><|begin_of_solution|>\\boxed{1}<|end_of_solution|>')]))] },
  { name: 'no answer anywhere', quarantined: { 0: /no \\boxed\{\} answer or final-answer line in the solution/ }, samples: [], make: async (d) => [await put(d, 't.jsonl', jsonl([withAssistant('<|begin_of_thought|>a<|end_of_thought|><|begin_of_solution|>it depends<|end_of_solution|>')]))] },
  {
    name: 'invalid UTF-8 on one JSONL line', quarantined: { 1: /^line is not valid UTF-8$/ }, samples: [0, 2],
    make: async (d) => [await put(d, 'u.jsonl', Buffer.concat([Buffer.from(jsonl([good(1)])), Buffer.from('{"question": "bad \xff byte"}\n', 'latin1'), Buffer.from(jsonl([good(2)]))]))],
  },
  { name: 'a JSONL line cut off', quarantined: { 1: /^line is not valid JSON/ }, samples: [0], make: async (d) => [await put(d, 'u.jsonl', jsonl([good(1)]) + JSON.stringify(good(2)).slice(0, 40))] },
  { name: 'a JSON array on each JSONL line', quarantined: { 0: /^row is an array, expected an object$/, 1: /^row is an array/ }, samples: [], make: async (d) => [await put(d, 'a.jsonl', jsonl([[good(1)], [good(2)]]))] },
  { name: 'scalars for rows', quarantined: { 0: /row is number/, 1: /row is string/, 2: /row is null/, 3: /row is boolean/ }, samples: [], make: async (d) => [await put(d, 's.jsonl', '42\n"text"\nnull\ntrue\n')] },
  { name: 'duplicate rows', quarantined: { 2: /^duplicate of dup\.jsonl row 0 \(same content\)$/ }, samples: [0, 1], make: async (d) => [await put(d, 'dup.jsonl', jsonl([good(1), good(2), good(1)]))] },
  {
    name: 'deeply nested junk', samples: [2],
    quarantined: { 0: /^row is an array/, 1: /^row is nested too deeply to process .*fix or remove it$/ },
    make: async (d) => [await put(d, 'deep.jsonl', `${'['.repeat(100_000)}${']'.repeat(100_000)}\n{"question": "q", "answer": "1", "junk": ${'['.repeat(100_000)}${']'.repeat(100_000)}}\n${JSON.stringify(good(3))}\n`)],
  },
  {
    name: 'CRLF line endings', quarantined: {}, samples: [0, 1],
    make: async (d) => [await put(d, 'crlf.jsonl', jsonl([good(1), good(2)]).replace(/\n/g, '\r\n'))],
    check: (samples) => {
      assert.equal(samples[0]!.question, 'What is 1 + 1?');
      assert.equal(samples[1]!.reference_answer, '4');
    },
  },
  {
    name: 'BOM at the start of JSONL and JSON', quarantined: {}, samples: [0, 0],
    make: async (d) => [await put(d, 'bom.jsonl', `\uFEFF${jsonl([good(1)])}`), await put(d, 'bom.json', `\uFEFF${JSON.stringify([good(2)])}`)],
  },
  {
    name: 'Parquet with wrong column types', quarantined: { 0: /^conversations is not a list$/ }, samples: [],
    make: async (d) => [await duckParquet(d, 'types.parquet', `SELECT 'sys' AS system, 'user: hi' AS conversations`)],
  },
  {
    name: 'Parquet question as BIGINT and struct', quarantined: { 0: /^question column is a number/, 1: /^question column is an object/ }, samples: [],
    make: async (d) => [
      await duckParquet(d, 'n.parquet', `SELECT 12345678901234::BIGINT AS question, '1' AS answer`),
      await duckParquet(d, 's.parquet', `SELECT {'a': 1} AS question, '1' AS answer`),
    ],
  },
];

async function put(dir: string, name: string, data: string | Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}

async function duckParquet(dir: string, name: string, select: string): Promise<string> {
  const path = join(dir, name);
  await duckdbRun(`COPY (${select}) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`);
  return path;
}

test(`${errorCases.length} bad inputs give a clear VrdataError in-process`, { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const [i, c] of errorCases.entries()) {
      const caseDir = join(dir, `case-${i}`);
      await mkdir(caseDir);
      const inputs = await c.make(caseDir);
      await assert.rejects(prepareInProcess(inputs, join(caseDir, 'run')), (err: unknown) => {
        assert.ok(err instanceof VrdataError, `${c.name}: a VrdataError, got ${String(err)}`);
        assert.equal(err.exitCode, c.exitCode, `${c.name}: exit code (${err.message})`);
        assert.match(err.message, /^prepare: /, c.name);
        assert.match(err.message, c.message, c.name);
        assert.ok(err.message.includes(c.names ?? basename(inputs[0]!)), `${c.name}: the message names the input: ${err.message}`);
        assert.match(err.message, HINT, `${c.name}: the message says what to do: ${err.message}`);
        return true;
      }, c.name);
    }
  } finally {
    await cleanup();
  }
});

/** One case per kind of failure goes through the CLI too (a spawn costs seconds on two busy cores). */
const CLI_CASES = ['empty .jsonl file', 'truncated Parquet', 'invalid UTF-8 in a JSON file', 'a folder mixing .jsonl, .parquet and .txt', 'a path that does not exist', 'Parquet with zero rows'];

test('bad inputs through the CLI: exit 1 or 2, one line on stderr, no stack trace, no hang', { timeout: 300_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const chosen = errorCases.filter((c) => CLI_CASES.includes(c.name));
    assert.equal(chosen.length, CLI_CASES.length);
    const jobs = await Promise.all(chosen.map(async (c, i) => {
      const caseDir = join(dir, `case-${i}`);
      await mkdir(caseDir);
      return { c, inputs: await c.make(caseDir), out: join(caseDir, 'run') };
    }));
    // Two at a time: the CI machine has two cores.
    const results: Awaited<ReturnType<typeof runCli>>[] = [];
    let next = 0;
    await Promise.all([0, 1].map(async () => {
      while (next < jobs.length) {
        const k = next++;
        results[k] = await runCli(['prepare', ...jobs[k]!.inputs, '--out', jobs[k]!.out, '--quiet'], { timeoutMs: 90_000 });
      }
    }));
    for (const [k, { c, inputs }] of jobs.entries()) {
      const r = results[k]!;
      assert.equal(r.timedOut, false, `${c.name}: finished`);
      assert.equal(r.code, c.exitCode, `${c.name}: exit code; stderr: ${r.stderr}`);
      assert.equal(hasStackTrace(r.stderr), false, `${c.name}: no stack trace: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${c.name}: one line: ${r.stderr}`);
      assert.match(lines[0]!, /^vrdata prepare: /);
      assert.match(lines[0]!, c.message);
      assert.ok(lines[0]!.includes(c.names ?? basename(inputs[0]!)), c.name);
    }
  } finally {
    await cleanup();
  }
});

test(`${quarantineCases.length} bad rows are quarantined with their reason; the good rows beside them come through`, { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const [i, c] of quarantineCases.entries()) {
      const caseDir = join(dir, `case-${i}`);
      await mkdir(caseDir);
      const inputs = await c.make(caseDir);
      const run = join(caseDir, 'run');
      const result = await prepareInProcess(inputs, run, { parts: 2 });
      const quarantine = await duckdbRows(join(run, 'quarantine', '*.parquet'), { orderBy: 'source, row_index' });
      const samples = await duckdbRows(join(run, 'samples', '*.parquet'), { orderBy: 'source DESC, row_index' });
      // Several files: row numbers restart per file, so number the quarantined rows in file order.
      const got = Object.fromEntries(quarantine.map((q, k) => [inputs.length > 1 ? k : Number(q.row_index), String(q.reason)]));
      assert.deepEqual(Object.keys(got).map(Number).sort(), Object.keys(c.quarantined).map(Number).sort(), `${c.name}: quarantined rows ${JSON.stringify(got)}`);
      for (const [index, pattern] of Object.entries(c.quarantined)) assert.match(got[Number(index)]!, pattern, `${c.name}: row ${index}`);
      assert.deepEqual(samples.map((s) => Number(s.row_index)), c.samples, `${c.name}: samples`);
      assert.deepEqual(result.rows, { samples: c.samples.length, quarantine: Object.keys(c.quarantined).length });
      for (const q of quarantine) assert.ok(String(q.raw).length <= 10_000);
      c.check?.(samples);
    }
  } finally {
    await cleanup();
  }
});

test('a 50 MB row is quarantined by max_row_chars, the next row still comes through, and memory stays bounded', { timeout: 180_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, 'huge.jsonl');
    const handle = await open(file, 'w');
    await handle.write('{"question": "');
    const chunk = 'x'.repeat(1 << 20);
    for (let i = 0; i < 50; i++) await handle.write(chunk);
    await handle.write(`", "answer": "1"}\n${JSON.stringify({ question: 'small?', answer: '2' })}\n`);
    await handle.close();
    const out = join(dir, 'run');
    const r = await runCli(['prepare', file, '--out', out, '--quiet'], { timeoutMs: 150_000, nodeArgs: ['--import', './test/helpers/report-rss.mjs'] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /samples: 1 rows, quarantine: 1 rows/);
    const quarantine = await duckdbRows(join(out, 'quarantine', '*.parquet'));
    assert.equal(quarantine.length, 1);
    assert.equal(quarantine[0]!.row_index, 0);
    assert.match(String(quarantine[0]!.reason), /^row has 524\d{5} characters, more than max_row_chars \(2000000\); raise --max-row-chars to keep it$/);
    assert.equal(String(quarantine[0]!.raw).length, 10_000, 'the quarantined raw text is truncated');
    const samples = await duckdbRows(join(out, 'samples', '*.parquet'));
    assert.deepEqual(samples.map((s) => [s.row_index, s.reference_answer]), [[1, '2']]);
    // Measured here: ~400 MB peak for the 50 MB row (V8 holds the line as bytes, text and parsed
    // copies), ~135 MB for a small file. 1 GB would mean a copy per row or a leak.
    const rss = Number(/max_rss_kb=(\d+)/.exec(r.stderr)?.[1]);
    assert.ok(rss > 0 && rss < 1_000_000, `peak RSS ${rss} kB`);
  } finally {
    await cleanup();
  }
});
