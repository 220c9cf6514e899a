/**
 * Token choice from one row of logits: temperature, top-k, top-p (nucleus), greedy at temperature 0.
 * Pure functions of (logits, settings, one uniform draw), so a sample depends only on its own
 * generator and never on the batch around it.
 */

/** Settings of one draw. */
export interface SampleSettings {
  temperature: number;
  topP: number;
  /** 0 or less: no top-k. */
  topK: number;
}

/** log(sum(exp(x))) over logits[offset, offset+length), in float64. */
export function logSumExp(logits: Float32Array, offset: number, length: number): number {
  let max = -Infinity;
  for (let i = 0; i < length; i++) { const v = logits[offset + i]!; if (v > max) max = v; }
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp(logits[offset + i]! - max);
  return max + Math.log(sum);
}

function argmax(logits: Float32Array, offset: number, length: number): number {
  let best = 0, bestV = -Infinity;
  for (let i = 0; i < length; i++) { const v = logits[offset + i]!; if (v > bestV) { bestV = v; best = i; } }
  return best;
}

/**
 * Draws a token id from logits[offset, offset+vocab) with uniform `u` in [0, 1). Returns the id and
 * its log-prob under the unmodified distribution (temperature 1, no truncation), which is what
 * DESIGN's importance weights need.
 */
export function sampleToken(logits: Float32Array, offset: number, vocab: number, s: SampleSettings, u: number): { id: number; logprob: number } {
  const lse = logSumExp(logits, offset, vocab);
  let id: number;
  if (s.temperature <= 0) id = argmax(logits, offset, vocab);
  else id = drawTruncated(logits, offset, vocab, s, u);
  return { id, logprob: logits[offset + id]! - lse };
}

function drawTruncated(logits: Float32Array, offset: number, vocab: number, s: SampleSettings, u: number): number {
  const invT = 1 / s.temperature;
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) { const v = logits[offset + i]!; if (v > max) max = v; }
  const useTopK = s.topK > 0 && s.topK < vocab;
  const useTopP = s.topP < 1;
  if (!useTopK && !useTopP) {
    // Fast path: one pass for the total, one pass to find the token (ids in vocabulary order).
    const w = weightsBuffer(vocab);
    let total = 0;
    for (let i = 0; i < vocab; i++) { const e = Math.exp((logits[offset + i]! - max) * invT); w[i] = e; total += e; }
    let target = u * total;
    for (let i = 0; i < vocab; i++) { target -= w[i]!; if (target < 0) return i; }
    return lastNonZero(w, vocab);
  }
  // Candidates sorted by logit (descending, ties by id), so truncation is deterministic.
  const order = Array.from({ length: vocab }, (_, i) => i);
  order.sort((a, b) => (logits[offset + b]! - logits[offset + a]!) || a - b);
  const k = useTopK ? s.topK : vocab;
  const w = new Float64Array(k);
  let total = 0;
  for (let j = 0; j < k; j++) { const e = Math.exp((logits[offset + order[j]!]! - max) * invT); w[j] = e; total += e; }
  let keep = k;
  if (useTopP) {
    // Smallest prefix whose mass reaches top_p (the token that crosses it is kept, as in vLLM/HF).
    let cum = 0;
    for (let j = 0; j < k; j++) { cum += w[j]! / total; if (cum >= s.topP) { keep = j + 1; break; } }
  }
  let kept = 0;
  for (let j = 0; j < keep; j++) kept += w[j]!;
  let target = u * kept;
  for (let j = 0; j < keep; j++) { target -= w[j]!; if (target < 0) return order[j]!; }
  return order[keep - 1]!;
}

let scratch = new Float64Array(0);
/** A reusable weights buffer: a fresh one per draw would allocate 8 bytes x vocab per token. */
function weightsBuffer(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}

function lastNonZero(w: Float64Array, n: number): number {
  for (let i = n - 1; i >= 0; i--) if (w[i]! > 0) return i;
  return 0;
}
