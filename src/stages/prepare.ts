/**
 * prepare — reads source rows and writes one `samples` row per usable question.
 *
 * reads:  files given as `input` (Bespoke-Stratos conversations, or question/answer rows) in
 *         HF-style Parquet shards, JSON or JSONL, or folders of them
 * writes: samples (SAMPLES), quarantine (QUARANTINE: every row that could not be used, with why)
 */
import { readdir, stat, readFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { defineStage } from '../pipeline/stage.js';
import { SAMPLES, QUARANTINE } from './tables.js';
import { parseSourceRow, sampleIdOf, type ColumnMapping } from './prepare-parse.js';
import { readRows } from '../io/parquet.js';
import { VrdataError, describeError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import type { Row } from '../io/schema.js';

export interface PrepareParams {
  input: string[];
  question_column: string;
  answer_column: string;
  response_column: string;
  tests_column: string;
  domain: string;
  max_row_chars: number;
  limit: number;
}

const FORMATS = ['.jsonl', '.json', '.parquet'];

export const prepareStage = defineStage<PrepareParams>({
  name: 'prepare',
  version: 1,
  describe: 'Read Bespoke-Stratos-style rows or question/answer files into the samples table',
  inputs: {},
  outputs: { samples: SAMPLES, quarantine: QUARANTINE },
  params: {
    input: { type: 'string[]', describe: 'source files or folders (.parquet, .json, .jsonl)', positional: true, path: true },
    question_column: { type: 'string', default: '', describe: 'column holding the question (default: conversations, else question/problem/prompt)' },
    answer_column: { type: 'string', default: '', describe: 'column holding the reference answer (default: answer/final_answer/gt, else extracted from the solution)' },
    response_column: { type: 'string', default: '', describe: 'column holding a <|begin_of_thought|> response (default: response/output/completion/code)' },
    tests_column: { type: 'string', default: '', describe: 'column holding code tests (default: tests/input_output)' },
    domain: { type: 'string', default: 'auto', choices: ['auto', 'math', 'code', 'science', 'multiple_choice', 'other'], describe: 'force the domain of every row' },
    max_row_chars: { type: 'integer', default: 2_000_000, describe: 'rows longer than this (serialised) are quarantined' },
    limit: { type: 'integer', default: 0, describe: 'read at most this many rows per file (0: all)' },
  },
  async fingerprintExtra(params) {
    // The output depends on the files' contents, not only their names.
    const files = await listInputFiles(params.input);
    const hashes = [];
    for (const file of files) hashes.push(`${file}:${await sha256File(file)}`);
    return hashes.join('\n');
  },
  async run(ctx) {
    const params = ctx.params;
    const mapping: ColumnMapping = {
      question: params.question_column || undefined,
      answer: params.answer_column || undefined,
      response: params.response_column || undefined,
      tests: params.tests_column || undefined,
    };
    const files = await listInputFiles(params.input);
    const seen = new Map<string, string>();
    let total = 0;
    for (const file of files) {
      const source = basename(file);
      let samples: Row[] = [];
      let quarantine: Row[] = [];
      const flush = async () => {
        if (samples.length) await ctx.write('samples', samples);
        if (quarantine.length) await ctx.write('quarantine', quarantine);
        ctx.progress.tick(samples.length + quarantine.length);
        samples = [];
        quarantine = [];
      };
      const reject = (rowIndex: number, reason: string, raw: unknown, rawText?: string) => {
        const text = rawText ?? safeJson(raw);
        quarantine.push({
          sample_id: sampleIdOf(`${source}#quarantine`, `${rowIndex}\n${text.slice(0, 10_000)}`),
          source,
          row_index: rowIndex,
          reason,
          raw: text.slice(0, 10_000),
        });
      };
      let count = 0;
      for await (const item of readSourceRows(file)) {
        if (params.limit > 0 && count >= params.limit) break;
        count++;
        if ('error' in item) {
          reject(item.index, item.error, undefined, item.rawText ?? '');
        } else {
          try {
            const size = safeJson(item.raw).length;
            if (size > params.max_row_chars) {
              reject(item.index, `row has ${size} characters, more than max_row_chars (${params.max_row_chars}); raise --max-row-chars to keep it`, item.raw);
            } else {
              const parsed = parseSourceRow(item.raw, {
                source,
                rowIndex: item.index,
                mapping,
                domain: params.domain === 'auto' ? undefined : params.domain,
              });
              if (!parsed.ok) reject(item.index, parsed.reason, item.raw);
              else {
                const id = String(parsed.row.sample_id);
                const first = seen.get(id);
                if (first) reject(item.index, `duplicate of ${first} (same content)`, item.raw);
                else {
                  seen.set(id, `${source} row ${item.index}`);
                  samples.push(parsed.row);
                }
              }
            }
          } catch (err) {
            // Hashing and serialising recurse: junk nested thousands of levels deep overflows the stack.
            // One such row must not stop the file; it is quarantined like any other unusable row.
            const why = err instanceof RangeError ? 'row is nested too deeply to process' : 'row cannot be processed';
            reject(item.index, `${why} (${describeError(err)}); fix or remove it`, item.raw);
          }
        }
        if (samples.length + quarantine.length >= 256) await flush();
      }
      await flush();
      ctx.log(`${file}: ${count} rows read`);
      total += count;
    }
    if (total === 0) {
      // An empty samples table would only fail later, far from its cause.
      throw new VrdataError('prepare', `${files.join(', ')} ${files.length > 1 ? 'hold' : 'holds'} no rows. Give source files with at least one row.`);
    }
  },
});

/** Expands folders (recursively) into the source files they hold, sorted; refuses unknown formats. */
export async function listInputFiles(inputs: string[]): Promise<string[]> {
  if (inputs.length === 0) throw new VrdataError('prepare', 'no input given. Name source files or folders, e.g. vrdata prepare data/toy/train.jsonl --out runs/x', { exitCode: 2 });
  const files: string[] = [];
  const unknown: string[] = [];
  for (const input of inputs) {
    let info;
    try {
      info = await stat(input);
    } catch {
      throw new VrdataError('prepare', `input ${input} does not exist. Check the path.`, { exitCode: 2 });
    }
    if (info.isDirectory()) {
      const names = (await readdir(input, { recursive: true, encoding: 'utf8' })).sort();
      for (const name of names) {
        const path = join(input, name);
        if (!(await stat(path)).isFile() || basename(name).startsWith('.')) continue;
        (FORMATS.includes(extname(name).toLowerCase()) ? files : unknown).push(path);
      }
    } else if (FORMATS.includes(extname(input).toLowerCase())) files.push(input);
    else unknown.push(input);
  }
  if (unknown.length > 0) {
    throw new VrdataError('prepare', `cannot read ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}: only .parquet, .json and .jsonl are understood. Move other files out of the folder or name the files to read.`, { exitCode: 2 });
  }
  if (files.length === 0) throw new VrdataError('prepare', `no .parquet, .json or .jsonl file in ${inputs.join(', ')}. Name a folder that holds source files, or the files themselves.`, { exitCode: 2 });
  return files;
}

type SourceItem = { index: number; raw: unknown } | { index: number; error: string; rawText?: string };

/** Rows of one source file; rows that cannot be decoded come back as errors, not exceptions. */
export async function* readSourceRows(file: string): AsyncGenerator<SourceItem> {
  const size = (await stat(file)).size;
  if (size === 0) throw new VrdataError('prepare', `${file} is empty. Remove it or give a file with rows.`);
  const ext = extname(file).toLowerCase();
  if (ext === '.parquet') {
    let index = 0;
    try {
      for await (const batch of readRows(file)) for (const raw of batch) yield { index: index++, raw };
    } catch (err) {
      if (err instanceof VrdataError) throw new VrdataError('prepare', `${file}: ${err.message}`);
      throw err;
    }
    return;
  }
  if (ext === '.json') {
    const bytes = await readFile(file);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new VrdataError('prepare', `${file} is not valid UTF-8. Re-encode it as UTF-8.`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      if (text.split('\n').filter((l) => l.trim()).length > 1 && text.trimStart().startsWith('{')) {
        throw new VrdataError('prepare', `${file} holds one JSON object per line: rename it to .jsonl.`);
      }
      throw new VrdataError('prepare', `${file} is not valid JSON (${(err as Error).message}). Fix the file or export it again.`);
    }
    const rows = Array.isArray(doc) ? doc : findRowArray(doc);
    if (!rows) {
      const what = typeof doc === 'object' && doc !== null ? `an object with keys ${Object.keys(doc).slice(0, 8).join(', ') || '(none)'}` : `a ${typeof doc}`;
      throw new VrdataError('prepare', `${file} must hold a JSON array of rows (or an object with a "data" or "rows" array), but holds ${what}. Convert it to a JSON array or to JSONL, one row per line.`);
    }
    for (const [index, raw] of rows.entries()) yield { index, raw };
    return;
  }
  yield* readJsonl(file);
}

async function* readJsonl(file: string): AsyncGenerator<SourceItem> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let index = 0;
  let carry: Buffer[] = [];
  const handleLine = (bytes: Buffer): SourceItem | undefined => {
    const i = index++;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      return { index: i, error: 'line is not valid UTF-8', rawText: bytes.toString('latin1').slice(0, 10_000) };
    }
    if (text.trim() === '') return undefined;
    try {
      return { index: i, raw: JSON.parse(text) };
    } catch (err) {
      return { index: i, error: `line is not valid JSON (${(err as Error).message})`, rawText: text };
    }
  };
  for await (const chunk of createReadStream(file)) {
    let buffer = chunk as Buffer;
    let newline = buffer.indexOf(0x0a);
    while (newline >= 0) {
      carry.push(buffer.subarray(0, newline));
      const item = handleLine(Buffer.concat(carry));
      carry = [];
      if (item) yield item;
      buffer = buffer.subarray(newline + 1);
      newline = buffer.indexOf(0x0a);
    }
    if (buffer.length) carry.push(buffer);
  }
  if (carry.length) {
    const item = handleLine(Buffer.concat(carry));
    if (item) yield item;
  }
}

function findRowArray(doc: unknown): unknown[] | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  for (const key of ['data', 'rows', 'train', 'examples']) {
    const value = (doc as Record<string, unknown>)[key];
    if (Array.isArray(value)) return value;
  }
  return undefined;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : typeof v === 'bigint' ? String(v) : v)) ?? String(value);
  } catch (err) {
    // String() of a deeply nested array recurses too: never fall back to it for objects.
    return typeof value === 'object' && value !== null ? `(not serialisable: ${describeError(err)})` : String(value);
  }
}
