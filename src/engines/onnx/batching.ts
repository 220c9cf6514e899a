/**
 * How scoring splits sequences into right-padded batches. A batch costs its padded size (rows x
 * its longest sequence) plus a fixed overhead per forward pass; dynamic programming over the
 * sequences sorted by length finds the split of least total cost, so a few long sequences no
 * longer make every short one pay for their padding.
 */

/** Sample rows the engine decodes together unless maxBatchRows says otherwise (here, free of onnxruntime, for the journal's batching). */
export const DEFAULT_BATCH_ROWS = 64;

/** Limits and the cost model of one plan. */
export interface PlanOptions {
  /** Most rows in one batch. */
  maxRows: number;
  /** Most padded tokens in one batch (a single longer sequence still gets a batch of its own). */
  tokenBudget: number;
  /** The fixed cost of one forward pass, in padded tokens (default 32). */
  passOverhead?: number;
}

/**
 * Batches of indices into `lengths`, longest sequences first, ties by index; every index with a
 * positive length appears exactly once (zero-length items are left out).
 */
export function planBatches(lengths: readonly number[], o: PlanOptions): number[][] {
  const order = lengths.map((_, i) => i).filter((i) => lengths[i]! > 0).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const n = order.length;
  const overhead = o.passOverhead ?? 32;
  const maxRows = Math.max(1, o.maxRows);
  // cost[j]: least cost of batching order[0..j); from[j]: where its last batch starts.
  const cost = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  cost[0] = 0;
  for (let i = 0; i < n; i++) {
    if (cost[i] === Infinity) continue;
    const L = lengths[order[i]!]!; // the longest of any batch starting at i
    for (let j = i + 1; j <= n && j - i <= maxRows; j++) {
      if (j - i > 1 && (j - i) * L > o.tokenBudget) break;
      const c = cost[i]! + overhead + (j - i) * L;
      if (c < cost[j]!) { cost[j] = c; from[j] = i; }
    }
  }
  const batches: number[][] = [];
  for (let j = n; j > 0; j = from[j]!) batches.push(order.slice(from[j]!, j));
  return batches.reverse();
}
