/**
 * serve's request batcher: requests that reach an idle server within the window share one
 * engine call, a full batch starts at once, and requests arriving during a call form the next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batcher } from '../../src/serve/onnx-backend.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A batch function that records its batches and can be held open until released. */
function recorder() {
  const batches: number[][] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const run = async (items: number[]): Promise<number[]> => {
    batches.push(items);
    if (hold) await new Promise<void>((r) => (release = r));
    return items.map((x) => x * 10);
  };
  return { batches, run, holdNext: () => (hold = true), release: () => { hold = false; release?.(); } };
}

test('requests that arrive a few ms apart within the window share one batch, results in order', async () => {
  const r = recorder();
  const call = batcher(r.run, 64, 1000); // wide, so a loaded machine cannot stretch 3 x 2 ms past it
  const outs: Promise<number>[] = [];
  for (let i = 0; i < 4; i++) {
    outs.push(call(i));
    await sleep(2);
  }
  assert.deepEqual(await Promise.all(outs), [0, 10, 20, 30]);
  assert.deepEqual(r.batches, [[0, 1, 2, 3]]);
});

test('without a window, only requests of the same turn share a batch', async () => {
  const r = recorder();
  const call = batcher(r.run, 64, 0);
  const a = [call(1), call(2)];
  await sleep(5);
  await Promise.all([...a, call(3)]);
  assert.deepEqual(r.batches, [[1, 2], [3]]);
});

test('a full batch starts without waiting out the window; the rest waits for the next call', async () => {
  const r = recorder();
  const call = batcher(r.run, 3, 60_000); // a window no test would wait out
  const outs = [1, 2, 3, 4, 5].map((x) => call(x));
  assert.deepEqual(await Promise.all(outs.slice(0, 3)), [10, 20, 30]);
  assert.deepEqual(await Promise.all(outs.slice(3)), [40, 50]);
  assert.deepEqual(r.batches, [[1, 2, 3], [4, 5]]);
});

test('requests that arrive while a batch runs go together into the next one, at once', async () => {
  const r = recorder();
  const call = batcher(r.run, 64, 5);
  r.holdNext();
  const first = call(1);
  await sleep(20);
  assert.deepEqual(r.batches, [[1]]);
  const later = [call(2), call(3)];
  r.release();
  assert.deepEqual(await Promise.all([first, ...later]), [10, 20, 30]);
  assert.deepEqual(r.batches, [[1], [2, 3]]);
});

test('a failing batch rejects its own requests only', async () => {
  let calls = 0;
  const call = batcher(async (items: number[]) => {
    if (calls++ === 0) throw new Error('engine: out of memory');
    return items;
  }, 2, 0);
  const results = await Promise.allSettled([call(1), call(2), call(3)]);
  assert.deepEqual(results.map((x) => x.status), ['rejected', 'rejected', 'fulfilled']);
});
