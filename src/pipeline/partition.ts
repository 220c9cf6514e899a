/**
 * Hash partitioning by sample_id. Every table of a run uses the same function and the same part
 * count, so part p of any table holds exactly the sample_ids with partOf(id) === p: a stage's part p
 * reads only its inputs' part p, and all rows of one question stay together.
 */
export function partOf(sampleId: string, parts: number): number {
  if (parts <= 1) return 0;
  // sample_id is hex; its first 8 digits are uniform enough.
  const value = Number.parseInt(sampleId.slice(0, 8), 16);
  return (Number.isNaN(value) ? fnv1a(sampleId) : value) % parts;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The parts this machine runs under `--shard i/n`: p with p % n === i. */
export function partsForShard(parts: number, shard: { index: number; count: number }): number[] {
  const out: number[] = [];
  for (let p = 0; p < parts; p++) if (p % shard.count === shard.index) out.push(p);
  return out;
}
