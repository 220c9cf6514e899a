/** `vrdata report <run>`: one self-contained HTML page with the run's plots, counts and timings. */
import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import { collectRun } from '../../report/collect.js';
import { renderReport } from '../../report/render.js';
import { reportPath } from '../../pipeline/layout.js';
import { writeFileAtomic } from '../../util/fs.js';

interface ReportArgs {
  run: string;
  out?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run>',
  describe: 'Write one self-contained HTML page (no network) with the plots of a run folder',
  builder: (y) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'the run folder, e.g. runs/demo' })
      .option('out', { type: 'string', describe: 'where the page goes (default: <run>/report.html)' })
      .example('$0 report runs/demo', 'writes runs/demo/report.html'),
  handler: async (args) => {
    const data = await collectRun(args.run);
    const out = resolve(args.out ?? reportPath(args.run));
    await writeFileAtomic(out, renderReport(data));
    const missing = data.notes.length ? ` (${data.notes.length} note${data.notes.length > 1 ? 's' : ''} on the page)` : '';
    process.stdout.write(`report: wrote ${out}${missing}\n`);
  },
};
