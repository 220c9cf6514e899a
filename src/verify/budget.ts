/** A time budget for one check: code that may loop or recurse calls tick(), which throws once it runs out. */

import { performance } from 'node:perf_hooks';

/** Thrown when a check runs out of time, steps or depth; the verifier turns it into `correct: false`. */
export class BudgetExceeded extends Error {
  constructor(what: string) {
    super(`budget exceeded: ${what}`);
    this.name = 'BudgetExceeded';
  }
}

/** Deadline-based budget; the clock is read every 256 ticks so tick() stays cheap. */
export class Budget {
  readonly deadline: number;
  private n = 0;
  constructor(readonly ms: number) {
    this.deadline = performance.now() + ms;
  }
  tick(): void {
    if ((++this.n & 255) === 0 && performance.now() > this.deadline) {
      throw new BudgetExceeded(`more than ${this.ms} ms`);
    }
  }
  /** True when the deadline has passed (reads the clock). */
  expired(): boolean {
    return performance.now() > this.deadline;
  }
}
