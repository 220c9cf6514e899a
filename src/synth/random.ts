import { Rng } from '../train/rng.js';

/**
 * The seeded PRNG of the synthetic tasks: the trainer's mulberry32 (one generator for the whole
 * project's data order and data), with streams derived from (seed, label) through a string hash
 * so that, e.g., the eval split does not depend on how many training rows were asked for.
 */
export class SynthRng extends Rng {
  constructor(seed: number, label = '') {
    super(mixSeed(seed, label));
  }
  /** Uniform integer in [lo, hi], both inclusive; requires lo <= hi. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** FNV-1a over `${seed}:${label}`, then one murmur3 finaliser round: a well-spread uint32. */
function mixSeed(seed: number, label: string): number {
  const text = `${seed}:${label}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
