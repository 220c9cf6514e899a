import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoolDown, ManualClock, TransientError, backoffDelay, withRetries, DEFAULT_RETRY_POLICY } from '../../src/engines/ratelimit.js';

const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000, jitter: 0.5, maxAttempts: 6, cooldownMs: 5000 };

test('backoff doubles, is capped, and jitter only shortens it', () => {
  const none = { ...policy, jitter: 0 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, none, () => 0.9)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoffDelay(3, policy, () => 0), 400);
  assert.equal(backoffDelay(3, policy, () => 0.999), Math.round(400 * (1 - 0.5 * 0.999)));
});

test('transient failures are retried on the injected clock without real sleeping', async () => {
  const clock = new ManualClock();
  let calls = 0;
  const started = Date.now();
  const out = await withRetries(
    async () => {
      calls++;
      if (calls < 4) throw new TransientError('reset', 'boom');
      return 'ok';
    },
    { policy: { ...policy, jitter: 0 }, clock },
  );
  assert.equal(out, 'ok');
  assert.equal(calls, 4);
  assert.deepEqual(clock.sleeps, [100, 200, 400]);
  assert.equal(clock.now(), 700);
  assert.ok(Date.now() - started < 1000);
});

test('a 429 waits at least its Retry-After, or the cool-down when none was sent', async () => {
  const clock = new ManualClock();
  let calls = 0;
  await withRetries(
    async () => {
      calls++;
      if (calls === 1) throw new TransientError('rate-limit', '429', { status: 429, retryAfterMs: 2500 });
      if (calls === 2) throw new TransientError('rate-limit', '429', { status: 429 });
      return 1;
    },
    { policy: { ...policy, jitter: 0 }, clock },
  );
  assert.deepEqual(clock.sleeps, [2500, 5000]);
});

test('final errors are not retried and attempts are bounded', async () => {
  const clock = new ManualClock();
  let calls = 0;
  await assert.rejects(withRetries(async () => { calls++; throw new Error('bad request'); }, { policy, clock }), /bad request/);
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(withRetries(async () => { calls++; throw new TransientError('status', '503'); }, { policy, clock }), /503/);
  assert.equal(calls, policy.maxAttempts);
});

test('a cool-down blocks the endpoint until it ends, and the later end wins', () => {
  const clock = new ManualClock(1000, false);
  const cd = new CoolDown(clock);
  assert.equal(cd.remaining(), 0);
  cd.note(5000);
  cd.note(1000, 200); // an earlier end does not shorten the rest
  assert.equal(cd.remaining(), 5000);
  clock.advance(4000);
  assert.equal(cd.remaining(), 1000);
  clock.advance(1000);
  assert.equal(cd.remaining(), 0);
});
