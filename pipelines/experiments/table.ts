/**
 * Prints the results table of docs/results.md from finished compare runs (one per seed):
 *   npx tsx pipelines/experiments/table.ts runs/compare-s1 runs/compare-s2 runs/compare-s3
 * Accuracy of every eval_<branch> table per seed, the mean, the sample standard deviation over
 * seeds, and the mean paired difference to the plain-SFT baseline (same seed, same questions).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readRows } from '../../src/io/parquet.js';

async function accuracy(runDir: string, table: string): Promise<number | undefined> {
  let files: string[];
  try {
    files = (await readdir(join(runDir, table))).filter((f) => f.endsWith('.parquet'));
  } catch {
    return undefined;
  }
  let n = 0;
  let ok = 0;
  for (const f of files) for await (const batch of readRows(join(runDir, table, f), { columns: ['correct'] })) for (const r of batch) { n++; if (r.correct === true) ok++; }
  return n === 0 ? undefined : ok / n;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (x * 100).toFixed(1);

const runs = process.argv.slice(2);
const branches = ['pi0', 'sft', 'acc', 'gml', 'lik', 'nohint'];
const acc: Record<string, (number | undefined)[]> = {};
for (const b of branches) acc[b] = await Promise.all(runs.map((r) => accuracy(r, `eval_${b}`)));
console.log(`| pi_theta trained on | ${runs.map((r) => r.split('/').pop()).join(' | ')} | mean ± sd | vs plain SFT (paired mean ± sd) |`);
console.log(`|---|${runs.map(() => '---|').join('')}---|---|`);
for (const b of branches) {
  const xs = acc[b]!;
  const got = xs.filter((x): x is number => x !== undefined);
  const diffs = xs.flatMap((x, i) => (x === undefined || acc.sft![i] === undefined ? [] : [x - acc.sft![i]!]));
  console.log(`| ${b} | ${xs.map((x) => (x === undefined ? '–' : pct(x))).join(' | ')} | ${got.length ? `${pct(mean(got))} ± ${pct(sd(got))}` : '–'} | ${b === 'sft' || !diffs.length ? '' : `${diffs[0]! >= 0 || mean(diffs) >= 0 ? '+' : ''}${pct(mean(diffs))} ± ${pct(sd(diffs))}`} |`);
}
