/** The per-endpoint concurrency gate: never more than its limit, first come first served, and a long queue drains. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gate } from '../../src/engines/openai/pool.js';

async function guarded<T>(gate: Gate, task: () => Promise<T>): Promise<T> {
  if (!gate.tryEnter()) await gate.wait();
  try {
    return await task();
  } finally {
    gate.leave();
  }
}

test('at most `limit` tasks run at once, and waiters start in arrival order', async () => {
  const gate = new Gate(3);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      guarded(gate, async () => {
        started.push(i);
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 1 + (i % 3)));
        running--;
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.deepEqual(started, Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual(gate.counts, { active: 0, waiting: 0 });
});

test('a failing task gives its slot back', async () => {
  const gate = new Gate(1);
  await assert.rejects(guarded(gate, async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await guarded(gate, async () => 7), 7);
  assert.deepEqual(gate.counts, { active: 0, waiting: 0 });
});

test('a queue far longer than the compaction threshold drains completely', async () => {
  const gate = new Gate(2);
  let done = 0;
  await Promise.all(Array.from({ length: 5000 }, () => guarded(gate, async () => { done++; })));
  assert.equal(done, 5000);
  assert.deepEqual(gate.counts, { active: 0, waiting: 0 });
});
