/**
 * Several endpoints of one model: a concurrency limit per endpoint (a Gate), dispatch to the
 * least loaded one that is not cooling down after a 429, and retries through ratelimit.ts.
 * Each attempt picks an endpoint afresh, so a dead endpoint's requests move to the others.
 */
import { CoolDown, TransientError, backoffDelay, withRetries, type Clock, type RetryOptions, type RetryPolicy } from '../ratelimit.js';
import { openPool, type HttpPool } from './http.js';

export interface Endpoint {
  /** Base URL, e.g. http://10.0.0.5:8000 (no trailing /v1). */
  readonly url: URL;
  /** `url.origin`, kept as a string (URL's getter builds it anew on every read). */
  readonly origin: string;
  /** At most `concurrency` requests in flight here. */
  readonly gate: Gate;
  readonly cooldown: CoolDown;
  /** Keep-alive connections to this endpoint, as many as `concurrency`. */
  readonly http: HttpPool;
  /** Requests assigned here and not finished (queued in the limiter included). */
  load: number;
  /** Transient failures since the last success; two or more in a row rest the endpoint. */
  failStreak: number;
  /** Finished attempts, by outcome. */
  readonly counts: { ok: number; transient: number; failed: number };
}

/**
 * A counting semaphore, first come first served. p-limit did this before; this one takes a free
 * slot without a promise or a microtask hop, which the client's per-request cost showed.
 */
export class Gate {
  private active = 0;
  private waiting: (() => void)[] = [];
  private head = 0;
  constructor(readonly limit: number) {}

  /** Takes a slot if one is free now; otherwise call `wait`. */
  tryEnter(): boolean {
    if (this.active >= this.limit) return false;
    this.active++;
    return true;
  }

  /** Resolves when `leave` hands this caller a slot. */
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives the slot back, or straight to the longest waiter. */
  leave(): void {
    if (this.head === this.waiting.length) {
      this.active--;
      return;
    }
    const next = this.waiting[this.head++]!;
    // Drop served entries now and then, so a queue that never empties does not grow forever.
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    next();
  }

  /** Slots held and callers waiting. */
  get counts(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length - this.head };
  }
}

export interface PoolOptions {
  urls: string[];
  concurrency: number;
  policy: RetryPolicy;
  clock: Clock;
  random?: () => number;
}

export class EndpointPool {
  readonly endpoints: Endpoint[];
  private retried = 0;
  /** Built once: this is on every request's path. */
  private readonly retry: RetryOptions;
  constructor(private readonly options: PoolOptions) {
    this.retry = { policy: options.policy, clock: options.clock, random: options.random, onRetry: () => this.retried++ };
    this.endpoints = options.urls.map((u) => {
      const url = new URL(u.replace(/\/+$/, '').replace(/\/v1$/, ''));
      return {
        url,
        origin: url.origin,
        gate: new Gate(options.concurrency),
        cooldown: new CoolDown(options.clock),
        http: openPool(url.origin, options.concurrency),
        load: 0,
        failStreak: 0,
        counts: { ok: 0, transient: 0, failed: 0 },
      };
    });
  }

  /**
   * The endpoint to use now: least load among those not cooling down (ties: fewer recent
   * failures); when all are cooling, the one whose cool-down ends first.
   */
  pick(): Endpoint {
    let best: Endpoint | undefined;
    for (const ep of this.endpoints) {
      if (ep.cooldown.remaining() > 0) continue;
      if (!best || ep.load < best.load || (ep.load === best.load && ep.failStreak < best.failStreak)) best = ep;
    }
    if (best) return best;
    return this.endpoints.reduce((a, b) => (b.cooldown.remaining() < a.cooldown.remaining() ? b : a));
  }

  /**
   * Requests sent again: by the retry policy, or by the HTTP client when a kept-alive connection
   * died before answering (which looks the same as a server dropping a request it read).
   */
  get retries(): number {
    let resent = 0;
    for (const ep of this.endpoints) resent += ep.http.resent;
    return this.retried + resent;
  }

  /** Runs `send(endpoint)` with retries; each attempt goes to the endpoint `pick` chooses then. */
  run<T>(send: (ep: Endpoint) => Promise<T>): Promise<T> {
    return withRetries(() => this.attempt(send), this.retry);
  }

  private async attempt<T>(send: (ep: Endpoint) => Promise<T>): Promise<T> {
    const ep = this.pick();
    ep.load++;
    try {
      if (!ep.gate.tryEnter()) await ep.gate.wait();
      try {
        const wait = ep.cooldown.remaining();
        if (wait > 0) await this.options.clock.sleep(wait);
        try {
          const out = await send(ep);
          ep.counts.ok++;
          ep.failStreak = 0;
          return out;
        } catch (err) {
          if (err instanceof TransientError) {
            ep.counts.transient++;
            ep.failStreak++;
            if (err.kind === 'rate-limit') ep.cooldown.note(this.options.policy.cooldownMs, err.retryAfterMs);
            // Failing again and again (down, refusing, overloaded): rest it so retries go elsewhere.
            else if (ep.failStreak >= 2) ep.cooldown.note(backoffDelay(ep.failStreak - 1, this.options.policy, () => 0));
          } else ep.counts.failed++;
          throw err;
        }
      } finally {
        ep.gate.leave();
      }
    } finally {
      ep.load--;
    }
  }

  /** Drops every connection; requests still in flight fail (not retried). */
  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((ep) => ep.http.close()));
  }
}
