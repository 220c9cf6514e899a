/**
 * `prepare` on the real data in ../shared/data: MATH500 through the CLI (issue 2's "Must show"),
 * every eval file, the Sky-T1 outputs with their cut-off rows quarantined, a Bespoke-Stratos Parquet
 * written by DuckDB, and the same rows as JSON, JSONL and Parquet. Outputs are read back with DuckDB;
 * expectations come from the raw files, parsed here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { duckdbRows, duckdbRun, sqlString } from '../helpers/duckdb.js';
import { runCli, hasStackTrace } from '../helpers/cli.js';
import { prepareInProcess } from '../helpers/prepare.js';
import { checkManifests, tempFiles } from '../helpers/run-folder.js';
import { codeTestsOf } from '../../src/stages/verify.js';

const DATA = resolve('..', 'shared', 'data');
type Raw = Record<string, unknown>;

async function readJsonl(path: string): Promise<Raw[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Raw);
}
/** Rows of a table read back with DuckDB, keyed source -> row_index -> row. */
async function bySource(runDir: string, table: string): Promise<Map<string, Map<number, Raw>>> {
  const out = new Map<string, Map<number, Raw>>();
  for (const row of await duckdbRows(join(runDir, table, '*.parquet'))) {
    const source = String(row.source);
    if (!out.has(source)) out.set(source, new Map());
    assert.equal(out.get(source)!.has(Number(row.row_index)), false, `${source} row ${row.row_index} appears once`);
    out.get(source)!.set(Number(row.row_index), row);
  }
  return out;
}
const answerOf = (v: unknown) => (typeof v === 'number' ? String(v) : String(v).trim());

test('vrdata prepare math500.jsonl: 500 samples whose reference_answer is the file\'s answer; a rerun skips', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = join(dir, 'run');
    const r = await runCli(['prepare', join(DATA, 'eval', 'math500.jsonl'), '--out', out], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /prepare: 1 part\(s\) written, 0 already done \(samples: 500 rows, quarantine: 0 rows written now\)/);
    assert.equal(hasStackTrace(r.stderr), false);

    const raw = await readJsonl(join(DATA, 'eval', 'math500.jsonl'));
    const samples = (await bySource(out, 'samples')).get('math500.jsonl')!;
    assert.equal(samples.size, 500);
    for (const [i, row] of raw.entries()) {
      const s = samples.get(i);
      assert.ok(s, `row ${i} is a sample`);
      assert.equal(s.reference_answer, row.answer, `row ${i}: reference_answer`);
      assert.equal(s.hint, row.answer);
      assert.equal(s.question, row.problem);
      assert.equal(s.reference_solution, row.solution);
      assert.equal(s.domain, 'math');
      assert.match(String(s.sample_id), /^[0-9a-f]{24}$/);
    }
    assert.equal(new Set([...samples.values()].map((s) => s.sample_id)).size, 500, 'sample_ids are distinct');
    for (const table of ['samples', 'quarantine']) for (const c of await checkManifests(out, table)) assert.deepEqual(c.problems, []);
    assert.deepEqual(await tempFiles(out), []);

    const again = await runCli(['prepare', join(DATA, 'eval', 'math500.jsonl'), '--out', out], { timeoutMs: 90_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /prepare: 0 part\(s\) written, 1 already done/);
  } finally {
    await cleanup();
  }
});

test('every eval file in ../shared/data/eval ingests whole, with sensible domains, answers and tests', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const result = await prepareInProcess([join(DATA, 'eval')], dir, { parts: 2 });
    const samples = await bySource(dir, 'samples');
    assert.equal(result.rows.quarantine, 0);
    const expected: Record<string, { rows: Raw[]; domain: string; answer?: (r: Raw) => string }> = {
      'aime24.jsonl': { rows: await readJsonl(join(DATA, 'eval', 'aime24.jsonl')), domain: 'math', answer: (r) => answerOf(r.answer) },
      'aime25.jsonl': { rows: await readJsonl(join(DATA, 'eval', 'aime25.jsonl')), domain: 'math', answer: (r) => answerOf(r.answer) },
      'amc23.jsonl': { rows: await readJsonl(join(DATA, 'eval', 'amc23.jsonl')), domain: 'math', answer: (r) => answerOf(r.answer) },
      'math500.jsonl': { rows: await readJsonl(join(DATA, 'eval', 'math500.jsonl')), domain: 'math', answer: (r) => answerOf(r.answer) },
      'olympiadbench.jsonl': { rows: await readJsonl(join(DATA, 'eval', 'olympiadbench.jsonl')), domain: 'math', answer: (r) => answerOf((r.final_answer as unknown[])[0]) },
      'mmlu_pro.jsonl': { rows: await readJsonl(join(DATA, 'eval', 'mmlu_pro.jsonl')), domain: 'multiple_choice', answer: (r) => answerOf(r.answer) },
      'apps10.jsonl': { rows: await readJsonl(join(DATA, 'eval', 'apps10.jsonl')), domain: 'code' },
      'livecodebench.json': { rows: JSON.parse(await readFile(join(DATA, 'eval', 'livecodebench.json'), 'utf8')) as Raw[], domain: 'code' },
    };
    assert.deepEqual([...samples.keys()].sort(), Object.keys(expected).sort());
    let total = 0;
    for (const [source, { rows, domain, answer }] of Object.entries(expected)) {
      const got = samples.get(source)!;
      assert.equal(got.size, rows.length, `${source}: every row is a sample`);
      total += rows.length;
      for (const [i, raw] of rows.entries()) {
        const s = got.get(i)!;
        assert.equal(s.domain, domain, `${source} row ${i}: domain`);
        assert.ok(String(s.question).length > 0);
        if (answer) {
          assert.equal(s.reference_answer, answer(raw), `${source} row ${i}: reference_answer`);
          assert.equal(s.tests, null);
        }
        if (source === 'olympiadbench.jsonl') assert.equal(s.reference_solution, (raw.solution as string[])[0], 'the first worked solution');
        if (source === 'mmlu_pro.jsonl') {
          // The choices must reach the question, or a letter answer cannot be given.
          const options = (raw.options as string[]).map((o, k) => `${String.fromCharCode(65 + k)}. ${o}`).join('\n');
          assert.equal(s.question, `${String(raw.question).trimEnd()}\n\nOptions:\n${options}`);
          assert.match(String(s.reference_answer), /^[A-J]$/);
        }
        if (domain === 'code') {
          assert.notEqual(s.tests, null, `${source} row ${i}: tests kept`);
          const tests = JSON.parse(String(s.tests));
          const given = source === 'apps10.jsonl' ? JSON.parse(String(raw.input_output)) : raw.tests;
          assert.deepEqual(tests, given, `${source} row ${i}: tests equal the file's`);
          // Call-based LiveCodeBench problems: the starter code reaches the question, and the verifier finds the function in it.
          const starter = String(raw.starter_code ?? '').trim();
          if (starter !== '') {
            assert.ok(String(s.question).includes(starter), `${source} row ${i}: starter code in the question`);
            const parsed = codeTestsOf(String(s.tests), String(s.question));
            assert.equal(parsed?.kind, 'call', `${source} row ${i}: call-based tests`);
            assert.equal(parsed?.kind === 'call' ? parsed.fnName : '', /def\s+(\w+)\s*\(\s*self/.exec(starter)?.[1], `${source} row ${i}: function name`);
          }
        }
      }
    }
    assert.equal(result.rows.samples, total);
  } finally {
    await cleanup();
  }
});

/** What the raw Sky-T1 response shows, judged here from the markers alone. */
function skyVerdict(text: string): { ok: true; thought: string; solution: string } | { ok: false; reason: RegExp } {
  const begin = text.indexOf('<|begin_of_thought|>');
  const endThought = text.indexOf('<|end_of_thought|>');
  const beginSolution = text.indexOf('<|begin_of_solution|>');
  const endSolution = text.indexOf('<|end_of_solution|>');
  if (begin < 0) return { ok: false, reason: /^response does not start a thought/ };
  if (endThought < 0) return { ok: false, reason: new RegExp(`^response is cut off inside the thought \\(<\\|end_of_thought\\|> missing, ${text.length} characters\\)`) };
  if (endSolution < 0) return { ok: false, reason: /^response is cut off inside the solution/ };
  return {
    ok: true,
    thought: text.slice(begin + '<|begin_of_thought|>'.length, endThought).trim(),
    solution: text.slice(beginSolution + '<|begin_of_solution|>'.length, endSolution).trim(),
  };
}

test('Sky-T1 outputs: complete responses become samples, every cut-off one is quarantined with its reason', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = join(dir, 'run');
    const r = await runCli(['prepare', join(DATA, 'samples'), '--out', out, '--quiet'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /samples: 11 rows, quarantine: 59 rows/);
    const samples = await bySource(out, 'samples');
    const quarantine = await bySource(out, 'quarantine');
    const counts: Record<string, { samples: number; quarantined: number }> = {};
    for (const file of ['sky-t1_aime24_outputs.jsonl', 'sky-t1_amc23_outputs.jsonl']) {
      const raw = await readJsonl(join(DATA, 'samples', file));
      counts[file] = { samples: 0, quarantined: 0 };
      for (const [i, row] of raw.entries()) {
        const verdict = skyVerdict((row.code as string[])[0]!);
        const s = samples.get(file)?.get(i);
        const q = quarantine.get(file)?.get(i);
        if (verdict.ok) {
          assert.ok(s && !q, `${file} row ${i} is complete: a sample`);
          counts[file]!.samples++;
          assert.equal(s.reference_thought, verdict.thought);
          assert.equal(s.reference_solution, verdict.solution);
          assert.equal(s.reference_answer, answerOf(row.answer));
          assert.equal(s.question, row.question);
        } else {
          assert.ok(q && !s, `${file} row ${i} is cut off: quarantined`);
          counts[file]!.quarantined++;
          assert.match(String(q.reason), verdict.reason, `${file} row ${i}`);
          assert.ok(String(q.raw).startsWith('{'), 'the raw row is kept for inspection');
        }
      }
    }
    // The files' own description (SOURCES.md): AIME24 has 3 complete responses of 30.
    assert.deepEqual(counts['sky-t1_aime24_outputs.jsonl'], { samples: 3, quarantined: 27 });
    assert.deepEqual(counts['sky-t1_amc23_outputs.jsonl'], { samples: 8, quarantined: 32 });
  } finally {
    await cleanup();
  }
});

const THOUGHT = (t: string, s: string) => `<|begin_of_thought|>\n\n${t}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n${s}\n\n<|end_of_solution|>`;

test('a Bespoke-Stratos Parquet written by DuckDB (system + list<struct<from,value>>, zstd, several row groups) ingests', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, 'train-00000-of-00001.parquet');
    const system = 'Your role as an assistant involves thoroughly exploring questions through a systematic long thinking process.';
    const special = [
      { q: 'Return your final response within \\boxed{}. What is 1/2 + 0?', t: 'Half.', s: 'So \\boxed{1} is wrong; it is \\boxed{\\frac{1}{2}}.', answer: '\\frac{1}{2}', domain: 'math' },
      { q: 'Compute 6*7.', t: 'Multiply.', s: 'We multiply.\nThe final answer is 42.', answer: '42', domain: 'math' },
      { q: 'Generate an executable Python function generated from the given prompt. The function should take stdin as input and print the output.', t: 'Read n.', s: '```python\nprint(int(input())*2)\n```', answer: '```python\nprint(int(input())*2)\n```', domain: 'code' },
    ];
    const values = special.map((r) => `(${sqlString(r.q)}, ${sqlString(THOUGHT(r.t, r.s))})`).join(', ');
    await duckdbRun(`
      COPY (
        SELECT ${sqlString(system)} AS system,
               [{'from': 'user', 'value': q}, {'from': 'assistant', 'value': a}] AS conversations
        FROM (
          SELECT * FROM (VALUES ${values}) v(q, a)
          UNION ALL
          SELECT 'Question ' || i || ': what is ' || i || ' squared?',
                 '<|begin_of_thought|>\n\nthink ' || i || '\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{' || (i * i) || '}\n\n<|end_of_solution|>'
          FROM range(3, 600) t(i)
          UNION ALL
          SELECT 'A cut-off one', '<|begin_of_thought|>\n\nand then the model stopped'
        )
      ) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100)`);
    const info = await duckdbRows(file.replace(/parquet$/, 'parquet'), { columns: ['system'] });
    assert.equal(info.length, 601);
    const groups = await (await import('../helpers/duckdb.js')).duckdbQuery(`SELECT count(DISTINCT row_group_id)::INTEGER AS g, any_value(compression) AS c FROM parquet_metadata(${sqlString(file)})`);
    assert.ok(Number(groups[0]!.g) > 1, 'several row groups');
    assert.equal(groups[0]!.c, 'ZSTD');

    const result = await prepareInProcess([file], join(dir, 'run'), { parts: 3 });
    assert.deepEqual(result.rows, { samples: 600, quarantine: 1 });
    const samples = (await bySource(join(dir, 'run'), 'samples')).get('train-00000-of-00001.parquet')!;
    // DuckDB's UNION ALL keeps branch order here; find rows by question rather than trusting it.
    const byQuestion = new Map([...samples.values()].map((s) => [String(s.question), s]));
    for (const r of special) {
      const s = byQuestion.get(r.q)!;
      assert.ok(s, r.q);
      assert.equal(s.system, system);
      assert.equal(s.reference_thought, r.t);
      assert.equal(s.reference_solution, r.s);
      assert.equal(s.reference_answer, r.answer);
      assert.equal(s.hint, r.domain === 'code' ? r.s : r.answer);
      assert.equal(s.domain, r.domain);
    }
    for (let i = 3; i < 600; i++) assert.equal(byQuestion.get(`Question ${i}: what is ${i} squared?`)?.reference_answer, String(i * i));
    const quarantine = await duckdbRows(join(dir, 'run', 'quarantine', '*.parquet'));
    assert.equal(quarantine.length, 1);
    assert.match(String(quarantine[0]!.reason), /cut off inside the thought/);
  } finally {
    await cleanup();
  }
});

test('the same rows as a JSON array, {"rows": [...]}, JSONL and Parquet give identical samples', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const rows = Array.from({ length: 50 }, (_, i) => ({
      system: i % 2 ? 'sys' : '',
      conversations: [
        { from: 'user', value: `Problem ${i}: ünïcödé ∑ and "quotes" and \\backslash` },
        { from: 'assistant', value: THOUGHT(`thinking ${i}`, `so \\boxed{${i % 7 === 0 ? `\\frac{${i}}{7}` : i}}`) },
      ],
    }));
    rows.push({ system: '', conversations: [{ from: 'user', value: 'broken' }, { from: 'assistant', value: '<|begin_of_thought|>no end' }] });
    const folders = ['array', 'object', 'jsonl', 'parquet'];
    for (const f of folders) await mkdir(join(dir, f));
    await writeFile(join(dir, 'array', 'rows.json'), JSON.stringify(rows, null, 2));
    await writeFile(join(dir, 'object', 'rows.json'), JSON.stringify({ rows }));
    await writeFile(join(dir, 'jsonl', 'rows.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await duckdbRun(`COPY (SELECT system, conversations FROM read_json(${sqlString(join(dir, 'jsonl', 'rows.jsonl'))}, format = 'newline_delimited')) TO ${sqlString(join(dir, 'parquet', 'rows.parquet'))} (FORMAT parquet, COMPRESSION zstd)`);

    const results: Raw[][] = [];
    const quarantined: Raw[][] = [];
    for (const f of folders) {
      await prepareInProcess([join(dir, f)], join(dir, `run-${f}`), { parts: 2 });
      // sample_id and source hash/name the file, which differ; everything else must not.
      results.push(await duckdbRows(join(dir, `run-${f}`, 'samples', '*.parquet'), { orderBy: 'row_index' }).then((r) => r.map(({ sample_id: _id, source: _s, ...rest }) => rest)));
      quarantined.push(await duckdbRows(join(dir, `run-${f}`, 'quarantine', '*.parquet'), { columns: ['row_index', 'reason'] }));
    }
    assert.equal(results[0]!.length, 50);
    assert.equal(results[0]![7]!.reference_answer, '\\frac{7}{7}');
    for (let k = 1; k < folders.length; k++) {
      assert.deepEqual(results[k], results[0], `${folders[k]} equals array`);
      assert.deepEqual(quarantined[k], quarantined[0]);
    }
    assert.deepEqual(quarantined[0], [{ row_index: 50, reason: quarantined[0]![0]!.reason }]);
  } finally {
    await cleanup();
  }
});
