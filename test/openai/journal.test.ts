import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, JournaledBatchError, contentKey, journaled } from '../../src/engines/journal.js';
import { DEFAULT_GENERATE_OPTIONS, type Engine, type GenerateRequest } from '../../src/engines/types.js';
import { ToyEngine } from '../fixtures/openai/toy-engine.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'vrdata-journal-'));
}

test('content keys ignore key order and see every value', () => {
  assert.equal(contentKey({ a: 1, b: [1, 2] }), contentKey({ b: [1, 2], a: 1 }));
  assert.notEqual(contentKey({ a: 1, b: [1, 2] }), contentKey({ a: 1, b: [2, 1] }));
  assert.equal(contentKey({ x: Float32Array.of(0.5) }), contentKey({ x: [0.5] }));
});

test('appends survive reopening; concurrent appends share syncs', async () => {
  const dir = await tempDir();
  const path = join(dir, 'j.jsonl');
  const j = await Journal.open(path);
  await Promise.all(Array.from({ length: 100 }, (_, i) => j.append(`k${i}`, { i })));
  assert.ok(j.syncs < 10, `100 concurrent appends took ${j.syncs} syncs`);
  await j.append('k0', { i: 'again' });
  await j.close();
  const again = await Journal.open(path);
  assert.equal(again.size, 100);
  assert.deepEqual(again.get('k5'), { i: 5 });
  assert.deepEqual(again.get('k0'), { i: 'again' }, 'the last value of a key wins');
  await again.close();
  await rm(dir, { recursive: true });
});

test('a torn last line is ignored and cut off, so later appends stay readable', async () => {
  const dir = await tempDir();
  const path = join(dir, 'j.jsonl');
  await writeFile(path, '{"k":"a","v":1}\n{"k":"b","v":2}\n{"k":"c","v":[1,2');
  const j = await Journal.open(path);
  assert.equal(j.size, 2);
  assert.equal(j.has('c'), false);
  await j.append('d', 4);
  await j.close();
  assert.equal(await readFile(path, 'utf8'), '{"k":"a","v":1}\n{"k":"b","v":2}\n{"k":"d","v":4}\n');
  await rm(dir, { recursive: true });
});

test('a damaged line in the middle is an error that names the line', async () => {
  const dir = await tempDir();
  const path = join(dir, 'j.jsonl');
  await writeFile(path, '{"k":"a","v":1}\nnot json\n{"k":"b","v":2}\n');
  await assert.rejects(Journal.open(path), /journal: line 2 of .*j\.jsonl is not valid JSON/);
  await rm(dir, { recursive: true });
});

test('journaled(): a rerun is served from the journal, results identical, nothing sent', async () => {
  const dir = await tempDir();
  const path = join(dir, 'j.jsonl');
  const requests: GenerateRequest[] = Array.from({ length: 6 }, (_, i) => ({ prompt: `Q${i}:`, options: { ...DEFAULT_GENERATE_OPTIONS, n: 2, seed: i, maxTokens: 12 } }));
  const scoreReqs = [{ prompt: 'The answer', continuation: ' is 42' }];
  const toy1 = new ToyEngine();
  const j1 = await Journal.open(path);
  const e1 = journaled(toy1, j1);
  const first = await e1.generate(requests);
  const firstScores = await e1.score(scoreReqs);
  assert.deepEqual(e1.stats, { cached: 0, sent: 7, failed: 0 });
  await j1.close();

  const toy2 = new ToyEngine();
  const j2 = await Journal.open(path);
  const e2 = journaled(toy2, j2);
  assert.deepEqual(await e2.generate(requests), first);
  const scores = await e2.score(scoreReqs);
  assert.deepEqual(Array.from(scores[0]!.logprobs), Array.from(firstScores[0]!.logprobs));
  assert.ok(scores[0]!.logprobs instanceof Float32Array);
  assert.deepEqual(toy2.calls, { generate: 0, score: 0 }, 'the rerun must not call the engine');
  // A changed option is a different request.
  await e2.generate([{ ...requests[0]!, options: { ...requests[0]!.options, temperature: 0.5 } }]);
  assert.equal(toy2.calls.generate, 1);
  await j2.close();
  await rm(dir, { recursive: true });
});

test('journaled(): failures are reported, not journaled, and retried on the next run', async () => {
  const dir = await tempDir();
  const path = join(dir, 'j.jsonl');
  const toy = new ToyEngine();
  let failPrompt: string | null = 'Q1:';
  // A wrapper that fails one prompt: an engine whose retries are spent, which a real server cannot be made to do on demand.
  const flaky: Engine = {
    ...toy,
    id: toy.id,
    generate: async (reqs) => {
      if (reqs.some((r) => r.prompt === failPrompt)) throw new Error('server said no');
      return toy.generate(reqs);
    },
    score: (r) => toy.score(r),
    tokenize: (t) => toy.tokenize(t),
    close: async () => {},
  };
  const requests = ['Q0:', 'Q1:', 'Q2:'].map((prompt) => ({ prompt, options: { ...DEFAULT_GENERATE_OPTIONS, maxTokens: 5 } }));
  const j = await Journal.open(path);
  const e = journaled(flaky, j);
  const err = await e.generate(requests).then(() => null, (x: unknown) => x);
  assert.ok(err instanceof JournaledBatchError);
  assert.deepEqual(err.failures.map((f) => f.index), [1]);
  assert.match(err.message, /1 of 3 generate requests failed \(first: server said no\)/);
  assert.equal(j.size, 2);
  const text = await readFile(path, 'utf8');
  assert.equal(text.split('\n').filter(Boolean).length, 2);
  assert.ok(!text.includes('null'), 'no cached nulls');
  failPrompt = null;
  const before = toy.calls.generate;
  const out = await e.generate(requests);
  assert.equal(toy.calls.generate - before, 1, 'only the failed request is sent again');
  assert.equal(out.length, 3);
  await j.close();
  await rm(dir, { recursive: true });
});

test('journaled(): generate calls hold at most rowsPerCall samples (and batchSize requests); scoring only batchSize', async () => {
  const dir = await tempDir();
  const journal = await Journal.open(join(dir, 'j.jsonl'));
  const toy = new ToyEngine();
  const calls: number[][] = [];
  const recording: Engine = {
    ...toy, id: toy.id, tokenize: (t) => toy.tokenize(t), close: async () => undefined,
    generate: (reqs) => (calls.push(reqs.map((r) => r.options.n)), toy.generate(reqs)),
    score: (reqs) => (calls.push(reqs.map(() => 0)), toy.score(reqs)),
  };
  const e = journaled(recording, journal, { batchSize: 4, rowsPerCall: 8 });
  const ns = [8, 3, 3, 3, 1, 1, 1, 1, 1, 12, 2];
  const requests: GenerateRequest[] = ns.map((n, i) => ({ prompt: `Q${i}:`, options: { ...DEFAULT_GENERATE_OPTIONS, n, seed: i, maxTokens: 4 } }));
  const out = await e.generate(requests);
  assert.deepEqual(out.map((cs) => cs.length), ns);
  // One decode batch per call: 8 | 3+3 | 3+1+1+1 (4 requests) | 1+1 | 12 alone (more than a batch) | 2.
  assert.deepEqual(calls, [[8], [3, 3], [3, 1, 1, 1], [1, 1], [12], [2]]);
  calls.length = 0;
  await e.score(Array.from({ length: 6 }, (_, i) => ({ prompt: `P${i}`, continuation: ' x' })));
  assert.deepEqual(calls.map((c) => c.length), [4, 2]);
  await journal.close();
  await rm(dir, { recursive: true });
});
