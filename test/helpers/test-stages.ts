/**
 * Tiny stages for runner tests, defined with the real defineStage. Every run of a stage stamps its
 * rows with a fresh nonce and counts its calls, so a test can tell a recomputed part from a skipped one.
 */
import { createHash } from 'node:crypto';
import { defineStage } from '../../src/pipeline/stage.js';
import type { Row, Schema } from '../../src/io/schema.js';

/** A hex sample_id for row i (the runner partitions on its first 8 hex digits). */
export const idOf = (i: number): string => createHash('sha256').update(`row ${i}`).digest('hex').slice(0, 24);

/** Calls so far, per stage name: the part each call ran (-1 for a source stage's one pass). */
export const calls: Record<string, number[]> = {};
/** Set by a test to pause the source stage after its first write (e.g. to start another shard meanwhile). */
export const hooks: { afterFirstWrite?: () => Promise<void> } = {};
let nonceCounter = 0;
const nextNonce = (stage: string, part: number): string => {
  (calls[stage] ??= []).push(part);
  return `${stage}#${++nonceCounter}`;
};

const NUMS: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'n', type: 'int64' },
  { name: 'value', type: 'string' },
  { name: 'nonce', type: 'string' },
];

/** Source stage: `count` rows n = 0..count-1. `stamp: false` leaves the nonce out, so reruns give identical bytes. */
export const sourceStage = defineStage<{ count: number; salt: string; stamp: boolean; batch: number; fail: boolean }>({
  name: 'src',
  version: 1,
  describe: 'test source',
  inputs: {},
  outputs: { nums: NUMS },
  params: {
    count: { type: 'integer', default: 40, describe: 'rows' },
    salt: { type: 'string', default: 'a', describe: 'goes into value' },
    stamp: { type: 'boolean', default: true, describe: 'write the nonce' },
    batch: { type: 'integer', default: 7, describe: 'rows per write call', affectsResult: false },
    fail: { type: 'boolean', default: false, describe: 'throw after writing half the rows', affectsResult: false },
  },
  async run(ctx) {
    const nonce = nextNonce('src', ctx.part);
    let rows: Row[] = [];
    for (let n = 0; n < ctx.params.count; n++) {
      if (ctx.params.fail && n === ctx.params.count >> 1) throw new Error('src: injected failure');
      rows.push({ sample_id: idOf(n), n, value: `${ctx.params.salt}-${n}`, nonce: ctx.params.stamp ? nonce : '' });
      if (rows.length >= ctx.params.batch) {
        await ctx.write('nums', rows);
        if (n < ctx.params.batch) await hooks.afterFirstWrite?.();
        rows = [];
      }
    }
    await ctx.write('nums', rows);
  },
});

const DOUBLED: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'n2', type: 'int64' },
  { name: 'upstream_nonce', type: 'string' },
  { name: 'nonce', type: 'string' },
];

/** Per-part stage reading nums: n2 = n * factor; `fail_part` throws in that part after writing a row. */
export const doubleStage = defineStage<{ factor: number; fail_part: number }>({
  name: 'double',
  version: 1,
  describe: 'test downstream',
  inputs: { nums: ['sample_id', 'n', 'nonce'] },
  outputs: { doubled: DOUBLED },
  params: {
    factor: { type: 'integer', default: 2, describe: 'multiplier' },
    fail_part: { type: 'integer', default: -1, describe: 'part that throws', affectsResult: false },
  },
  async run(ctx) {
    const nonce = nextNonce('double', ctx.part);
    for await (const batch of ctx.read('nums')) {
      await ctx.write('doubled', batch.map((r) => ({ sample_id: r.sample_id, n2: Number(r.n) * ctx.params.factor, upstream_nonce: r.nonce, nonce })));
      if (ctx.part === ctx.params.fail_part) throw new Error(`double: injected failure in part ${ctx.part}`);
    }
  },
});

/** scope 'all': one part that reads every part of doubled (a merge), sorted by n2. */
export const mergeStage = defineStage<Record<string, never>>({
  name: 'merge',
  version: 1,
  describe: 'test merge',
  scope: 'all',
  inputs: { doubled: ['sample_id', 'n2'] },
  outputs: { merged: [{ name: 'sample_id', type: 'string' }, { name: 'n2', type: 'int64' }] },
  params: {},
  async run(ctx) {
    nextNonce('merge', ctx.part);
    const all: Row[] = [];
    for await (const batch of ctx.read('doubled')) all.push(...batch);
    all.sort((a, b) => Number(a.n2) - Number(b.n2));
    await ctx.write('merged', all);
  },
});
