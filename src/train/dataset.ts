/**
 * Reads a training set (Parquet: prompt, response, weight) and tokenizes it with the base model's
 * tokenizer.json, the way the engine does (prompt and response tokenized apart, no special tokens
 * added), so the cut between prompt and response is a token boundary, and EOS is appended to the
 * response when asked (the model learns to stop).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { readAllRows } from '../io/parquet.js';
import { VrdataError } from '../util/errors.js';
import type { Example } from './data.js';

/** Columns a training set must have. */
export const TRAIN_COLUMNS = ['prompt', 'response', 'weight'] as const;

/** Loads tokenizer.json (+ tokenizer_config.json when present) of a model folder. */
export async function loadTokenizer(modelDir: string): Promise<Tokenizer> {
  let tokJson: object;
  try {
    tokJson = JSON.parse(await readFile(join(modelDir, 'tokenizer.json'), 'utf8')) as object;
  } catch (err) {
    throw new VrdataError('train', `cannot read ${join(modelDir, 'tokenizer.json')} (${(err as Error).message}); --base must be a model folder with a tokenizer`, { cause: err });
  }
  let tokConfig: object = {};
  try {
    tokConfig = JSON.parse(await readFile(join(modelDir, 'tokenizer_config.json'), 'utf8')) as object;
  } catch {
    // optional
  }
  return new Tokenizer(tokJson, tokConfig);
}

/** What tokenizing a training set found. */
export interface LoadedSet {
  examples: Example[];
  /** Rows cut to maxSeqLen tokens. */
  truncated: number;
  /** Rows skipped because their weight is 0 or they have no response token left. */
  skipped: number;
}

/**
 * Reads and tokenizes the set. A non-finite or negative weight, or a non-string prompt/response,
 * is an error naming the row; weight-0 rows are kept out (they cannot change anything).
 */
export async function loadTrainingSet(path: string, tokenizer: Tokenizer, o: { maxSeqLen: number; eosId?: number }): Promise<LoadedSet> {
  const rows = await readAllRows(path, { columns: [...TRAIN_COLUMNS], requireRows: true });
  const examples: Example[] = [];
  let truncated = 0;
  let skipped = 0;
  rows.forEach((r, row) => {
    const { prompt, response } = r;
    const weight = Number(r.weight);
    if (typeof prompt !== 'string' || typeof response !== 'string') {
      throw new VrdataError('train', `${path} row ${row}: prompt and response must be strings; fix the training set`);
    }
    if (!Number.isFinite(weight) || weight < 0) {
      throw new VrdataError('train', `${path} row ${row} column weight: ${String(r.weight)} is not a finite non-negative number; fix the weigh/build stage output`);
    }
    const p = tokenizer.encode(prompt, { add_special_tokens: false }).ids;
    const q = tokenizer.encode(response, { add_special_tokens: false }).ids;
    if (o.eosId !== undefined) q.push(o.eosId);
    let ids = [...p, ...q];
    if (ids.length > o.maxSeqLen + 1) {
      ids = ids.slice(0, o.maxSeqLen + 1);
      truncated++;
    }
    const promptLen = Math.min(p.length, ids.length);
    if (weight === 0 || ids.length - Math.max(promptLen, 1) <= 0) {
      skipped++;
      return;
    }
    examples.push({ ids: Int32Array.from(ids), promptLen: Math.max(promptLen, 1), weight, row });
  });
  return { examples, truncated, skipped };
}
