/**
 * Checks every "a op b = c" step in the thought of each row of a training set (or traces) table:
 * prints the share of rows whose steps are all arithmetically right, and the share of the weight on them.
 *   npx tsx pipelines/experiments/steps.ts runs/compare-s1/sft_set runs/compare-s1/weighted_acc
 */
import {readRows} from '../../src/io/parquet.js';
import {readdirSync} from 'node:fs';
for (const dir of process.argv.slice(2)) {
  let n=0, ok=0, wsum=0, wok=0;
  for (const f of readdirSync(dir).filter(f=>f.endsWith('.parquet'))) for await (const b of readRows(`${dir}/${f}`)) for (const r of b) {
    const text = String(r.response ?? r.trace);
    const th = text.split('<|end_of')[0]!;
    const steps = [...th.matchAll(/(\d+) ([-+*/]) (\d+) = (\d+)/g)];
    const good = steps.length>0 && steps.every(m => { const a=+m[1]!, b=+m[3]!, c=+m[4]!; return ({'+':a+b,'-':a-b,'*':a*b,'/':a/b} as Record<string,number>)[m[2]!]===c; });
    const w = r.weight==null?1:Number(r.weight);
    n++; wsum+=w; if (good) { ok++; wok+=w; }
  }
  console.log(dir, `rows ${n}, all steps right: ${(100*ok/n).toFixed(1)}%, weight-share on such rows: ${(100*wok/wsum).toFixed(1)}%`);
}
