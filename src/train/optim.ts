/**
 * AdamW (decoupled weight decay), global grad-norm clipping and the warm-up + cosine schedule,
 * in plain Float32Array loops: a 3.4M-parameter update costs a few ms against ~1 s of
 * forward+backward per 4k-token step (measured in bench/train.bench.ts), so a second ONNX graph
 * would not pay for its feeds.
 */

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.0 };

/** Adam moments for one tensor. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
}

/** Global L2 norm of all gradients, accumulated in float64. */
export function globalNorm(grads: Float32Array[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return Math.sqrt(s);
}

/** Scales gradients in place so their global norm is at most maxNorm (0 = no clipping); returns the norm before. */
export function clipGradients(grads: Float32Array[], maxNorm: number): number {
  const norm = globalNorm(grads);
  if (maxNorm > 0 && norm > maxNorm) {
    const f = maxNorm / (norm + 1e-6);
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i]! *= f;
  }
  return norm;
}

/**
 * One AdamW update in place. `step` counts from 1 (bias correction). `decay` says whether this
 * tensor gets weight decay (norm gains do not, by the usual convention).
 */
export function adamwUpdate(o: { param: Float32Array; grad: Float32Array; state: AdamState; lr: number; step: number; decay: boolean; cfg: AdamWConfig }): void {
  const { param: p, grad: g, state, lr, step, cfg } = o;
  const { m, v } = state;
  const b1 = cfg.beta1;
  const b2 = cfg.beta2;
  const c1 = 1 / (1 - Math.pow(b1, step));
  const c2 = 1 / (1 - Math.pow(b2, step));
  const wd = o.decay ? 1 - lr * cfg.weightDecay : 1;
  const eps = cfg.eps;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const mi = b1 * m[i]! + (1 - b1) * gi;
    const vi = b2 * v[i]! + (1 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! * wd - (lr * (mi * c1)) / (Math.sqrt(vi * c2) + eps);
  }
}

export interface ScheduleConfig {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Final learning rate as a fraction of lr. */
  minLrRatio: number;
}

/** Learning rate of optimiser step `step` (0-based): linear warm-up to lr, then cosine down to lr*minLrRatio. */
export function learningRate(step: number, s: ScheduleConfig): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  const min = s.lr * s.minLrRatio;
  return min + 0.5 * (s.lr - min) * (1 + Math.cos(Math.PI * progress));
}
