/**
 * Several endpoints of one model: a concurrency limit per endpoint (p-limit), dispatch to the
 * least loaded one that is not cooling down after a 429, and retries through ratelimit.ts.
 * Each attempt picks an endpoint afresh, so a dead endpoint's requests move to the others.
 */
import type { Pool } from 'undici';
import pLimit, { type LimitFunction } from 'p-limit';
import { CoolDown, TransientError, backoffDelay, withRetries, type Clock, type RetryPolicy } from '../ratelimit.js';
import { openPool } from './http.js';

export interface Endpoint {
  /** Base URL, e.g. http://10.0.0.5:8000 (no trailing /v1). */
  readonly url: URL;
  readonly limit: LimitFunction;
  readonly cooldown: CoolDown;
  /** Keep-alive connections to this endpoint, as many as `concurrency`. */
  readonly http: Pool;
  /** Requests assigned here and not finished (queued in the limiter included). */
  load: number;
  /** Transient failures since the last success; two or more in a row rest the endpoint. */
  failStreak: number;
  /** Finished attempts, by outcome. */
  readonly counts: { ok: number; transient: number; failed: number };
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
  retries = 0;
  constructor(private readonly options: PoolOptions) {
    this.endpoints = options.urls.map((u) => {
      const url = new URL(u.replace(/\/+$/, '').replace(/\/v1$/, ''));
      return {
        url,
        limit: pLimit(options.concurrency),
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

  /** Runs `send(endpoint)` with retries; each attempt goes to the endpoint `pick` chooses then. */
  run<T>(send: (ep: Endpoint) => Promise<T>): Promise<T> {
    return withRetries(
      async () => {
        const ep = this.pick();
        ep.load++;
        try {
          return await ep.limit(async () => {
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
          });
        } finally {
          ep.load--;
        }
      },
      { policy: this.options.policy, clock: this.options.clock, random: this.options.random, onRetry: () => this.retries++ },
    );
  }

  /** Drops every connection; requests still in flight fail (not retried). */
  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((ep) => ep.http.destroy()));
  }
}
