/**
 * Retries with exponential backoff and jitter, and a cool-down after 429 (STYLE.md §7).
 * Time comes from an injected `Clock`, so tests drive it without sleeping. Which failures
 * are worth retrying is decided by `TransientError`: the HTTP client throws it for 429, 5xx,
 * connection resets, timeouts and truncated bodies; everything else fails at once.
 */

/** Where retry logic gets time from; `sleep` must resolve after `ms` of this clock's time. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Wall-clock time and real timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Delay before the second attempt; it doubles each time after. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** 0 = fixed delays, 1 = "full jitter" (uniform in [0, delay]). */
  jitter: number;
  /** How long an endpoint rests after a 429 when the server sends no Retry-After. */
  cooldownMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  jitter: 0.5,
  cooldownMs: 5_000,
};

export type TransientKind = 'status' | 'rate-limit' | 'reset' | 'timeout' | 'truncated';

/** A failure that may go away if the same request is sent again (possibly elsewhere). */
export class TransientError extends Error {
  readonly kind: TransientKind;
  readonly status: number | undefined;
  /** The server's Retry-After, in ms, when it sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(kind: TransientKind, message: string, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransientError';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The delay before attempt `attempt + 1` (attempt counts from 1): base·2^(attempt-1), capped, jittered down. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const raw = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (1 - policy.jitter * random()));
}

/**
 * The "do not send before" time of one endpoint. A 429 pushes it forward for everyone
 * using the endpoint, not just the request that got it, so a rate-limited server gets a rest.
 */
export class CoolDown {
  private until = 0;
  constructor(private readonly clock: Clock) {}

  /** Records a 429 seen now; `retryAfterMs` (the server's hint) wins over `defaultMs`. */
  note(defaultMs: number, retryAfterMs?: number): void {
    const end = this.clock.now() + (retryAfterMs ?? defaultMs);
    if (end > this.until) this.until = end;
  }

  /** Milliseconds left before the endpoint may be used again (0 when it may). */
  remaining(): number {
    return Math.max(0, this.until - this.clock.now());
  }
}

export interface RetryOptions {
  policy: RetryPolicy;
  clock: Clock;
  /** Uniform in [0, 1); injectable for reproducible tests. */
  random?: () => number;
  /** Called before each wait, for counters and logs. */
  onRetry?: (info: { attempt: number; delayMs: number; error: TransientError }) => void;
}

/**
 * Runs `attempt(n)` until it resolves, a non-transient error is thrown, or the policy's
 * attempts are spent; then the last error is thrown unchanged. A 429 waits at least its
 * Retry-After (or the policy's cool-down).
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof TransientError) || n >= options.policy.maxAttempts) throw err;
      let delayMs = backoffDelay(n, options.policy, random);
      if (err.kind === 'rate-limit') delayMs = Math.max(delayMs, err.retryAfterMs ?? options.policy.cooldownMs);
      options.onRetry?.({ attempt: n, delayMs, error: err });
      await options.clock.sleep(delayMs);
    }
  }
}

/**
 * A clock for tests: time moves only when `advance` is called or when every pending
 * sleeper is waiting (`autoAdvance`), so retry schedules are checked without real waiting.
 */
export class ManualClock implements Clock {
  private time: number;
  private sleepers: { at: number; resolve: () => void }[] = [];
  /** Every delay ever requested, in order. */
  readonly sleeps: number[] = [];
  constructor(start = 0, private readonly autoAdvance = true) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve) => {
      this.sleepers.push({ at: this.time + Math.max(0, ms), resolve });
      // Jump to the earliest wake-up once the current microtasks are done.
      if (this.autoAdvance) setImmediate(() => this.advanceToNext());
    });
  }
  /** Moves time forward by `ms`, waking every sleeper that is due. */
  advance(ms: number): void {
    this.time += ms;
    this.wake();
  }
  private advanceToNext(): void {
    if (this.sleepers.length === 0) return;
    const next = Math.min(...this.sleepers.map((s) => s.at));
    if (next > this.time) this.time = next;
    this.wake();
  }
  private wake(): void {
    const due = this.sleepers.filter((s) => s.at <= this.time);
    this.sleepers = this.sleepers.filter((s) => s.at > this.time);
    for (const s of due) s.resolve();
  }
}
