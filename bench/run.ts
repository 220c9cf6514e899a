/**
 * Runs the benchmarks: every bench/*.bench.ts, or those whose file name contains one of the
 * command-line arguments (`npm run bench -- parquet engine`), one after another, each under a
 * header. A bench exports `run()` and prints its own ratios against a baseline measured in the
 * same run, so numbers from different machines are never compared.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`bench: no bench/*.bench.ts matches ${filters.join(', ')}; have: ${readdirSync(here).filter((f) => f.endsWith('.bench.ts')).join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f.replace(/\.bench\.ts$/, '')} ===`);
  const t0 = performance.now();
  try {
    const mod = (await import(pathToFileURL(join(here, f)).href)) as { run?: () => Promise<void> };
    if (typeof mod.run !== 'function') throw new Error(`${f} does not export run()`);
    await mod.run();
  } catch (err) {
    failed++;
    console.error(`bench ${f} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }
  console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
process.exitCode = failed > 0 ? 1 : 0;
