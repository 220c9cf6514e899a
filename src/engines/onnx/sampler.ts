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
 * DESIGN's importance weights need. One pass for the maximum and one for both exponentials; top-k
 * and top-p sort only the candidates above a threshold, never the whole vocabulary.
 */
export function sampleToken(logits: Float32Array, offset: number, vocab: number, s: SampleSettings, u: number): { id: number; logprob: number } {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) { const v = logits[offset + i]!; if (v > max) max = v; }
  if (max === -Infinity) return { id: 0, logprob: -Infinity };
  const w = weightsBuffer(vocab);
  let sum = 0, total = 0;
  if (s.temperature <= 0 || s.temperature === 1) {
    for (let i = 0; i < vocab; i++) { const e = Math.exp(logits[offset + i]! - max); w[i] = e; sum += e; }
    total = sum;
  } else {
    const invT = 1 / s.temperature;
    for (let i = 0; i < vocab; i++) {
      const d = logits[offset + i]! - max;
      sum += Math.exp(d);
      const e = Math.exp(d * invT);
      w[i] = e;
      total += e;
    }
  }
  const lse = max + Math.log(sum);
  let id: number;
  if (s.temperature <= 0) id = argmax(logits, offset, vocab);
  else if ((s.topK > 0 && s.topK < vocab) || s.topP < 1) id = drawTruncated(logits, offset, vocab, w, total, s, u);
  else {
    let target = u * total;
    id = -1;
    for (let i = 0; i < vocab; i++) { target -= w[i]!; if (target < 0) { id = i; break; } }
    if (id < 0) id = lastNonZero(w, vocab);
  }
  return { id, logprob: logits[offset + id]! - lse };
}

/**
 * Top-k then top-p over candidates in descending logit order (ties by id, so truncation is
 * deterministic). Only a prefix of that order is ever sorted: the tokens whose logit reaches the
 * k-th largest (top-k), or whose weight reaches a threshold lowered until their mass covers top_p.
 */
function drawTruncated(logits: Float32Array, offset: number, vocab: number, w: Float64Array, total: number, s: SampleSettings, u: number): number {
  const useTopK = s.topK > 0 && s.topK < vocab;
  const useTopP = s.topP < 1;
  let cand: number[];
  if (useTopK) {
    const kth = kthLargest(logits, offset, vocab, s.topK);
    cand = [];
    for (let i = 0; i < vocab; i++) if (logits[offset + i]! >= kth) cand.push(i);
  } else {
    // Weights are monotone in the logit, so {w >= t} is a prefix of the sorted order; lower t until it holds top_p of the mass.
    let t = 1e-2;
    for (;;) {
      cand = [];
      let mass = 0;
      for (let i = 0; i < vocab; i++) { const e = w[i]!; if (e >= t) { cand.push(i); mass += e; } }
      if (mass >= s.topP * total || t === 0) break;
      t = t < 1e-30 ? 0 : t * 1e-4;
    }
  }
  cand.sort((a, b) => (logits[offset + b]! - logits[offset + a]!) || a - b);
  const k = useTopK ? Math.min(s.topK, cand.length) : cand.length;
  let kTotal = total;
  if (useTopK) { kTotal = 0; for (let j = 0; j < k; j++) kTotal += w[cand[j]!]!; }
  let keep = k;
  if (useTopP) {
    // Smallest prefix whose mass reaches top_p (the token that crosses it is kept, as in vLLM/HF).
    let cum = 0;
    for (let j = 0; j < k; j++) { cum += w[cand[j]!]! / kTotal; if (cum >= s.topP) { keep = j + 1; break; } }
  }
  let kept = 0;
  for (let j = 0; j < keep; j++) kept += w[cand[j]!]!;
  let target = u * kept;
  for (let j = 0; j < keep; j++) { target -= w[cand[j]!]!; if (target < 0) return cand[j]!; }
  return cand[keep - 1]!;
}

let select = new Float32Array(0);
/** The k-th largest of logits[offset, offset+n) (1-based k), by quickselect on a scratch copy: O(n). */
function kthLargest(logits: Float32Array, offset: number, n: number, k: number): number {
  if (select.length < n) select = new Float32Array(n);
  const a = select;
  a.set(logits.subarray(offset, offset + n));
  let lo = 0, hi = n - 1;
  const want = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) { const x = a[i]!; a[i] = a[j]!; a[j] = x; i++; j--; }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else break;
  }
  return a[want]!;
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
