/** `vrdata run <pipeline.yaml>`: validates the whole pipeline, saves it resolved, then runs its stages in order. */
import type { CommandModule } from 'yargs';
import { resolve, join } from 'node:path';
import { runPipeline } from '../../pipeline/run.js';
import { parseShard } from './stages.js';

export const runCommand: CommandModule = {
  command: 'run <pipeline>',
  describe: 'Run a pipeline (pipelines/*.yaml): every stage in order, resuming whatever is already done',
  builder: (yargs) =>
    yargs
      .positional('pipeline', { type: 'string', describe: 'pipeline YAML file, e.g. pipelines/demo.yaml', demandOption: true })
      .option('name', { type: 'string', describe: "run name (default: the pipeline's name)" })
      .option('runs-dir', { type: 'string', default: 'runs', describe: 'folder that holds run folders' })
      .option('out', { type: 'string', describe: 'run folder (overrides --runs-dir/--name)' })
      .option('from', { type: 'string', describe: 'first stage id to run (earlier ones must be done)' })
      .option('until', { type: 'string', describe: 'last stage id to run' })
      .option('shard', { type: 'string', describe: 'run only parts p with p % n == i, written i/n' })
      .option('set', { type: 'array', string: true, default: [], describe: 'override a parameter: stageId.param=value (repeatable)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'validate and print the resolved pipeline, run nothing' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' })
      .example('$0 run pipelines/demo.yaml', 'the whole method on the embedded engine, in minutes')
      .example('$0 run pipelines/bespoke-17k.yaml --shard 0/4 --until score', 'machine 0 of 4 runs its parts up to score'),
  handler: async (argv) => {
    const pipelineFile = resolve(String(argv.pipeline));
    const result = await runPipeline({
      pipelineFile,
      runDir: argv.out ? resolve(String(argv.out)) : undefined,
      runsDir: resolve(String(argv['runs-dir'])),
      name: argv.name as string | undefined,
      from: argv.from as string | undefined,
      until: argv.until as string | undefined,
      shard: parseShard(argv.shard as string | undefined),
      overrides: argv.set as string[],
      dryRun: argv['dry-run'] as boolean,
      quiet: argv.quiet as boolean,
    });
    if (argv['dry-run']) {
      process.stdout.write(result.resolvedYaml);
      return;
    }
    for (const stage of result.stages) {
      const rows = Object.entries(stage.rows).map(([t, n]) => `${t} ${n}`).join(', ');
      process.stdout.write(`  ${stage.stage.padEnd(16)} ${String(stage.partsRun.length).padStart(3)} run ${String(stage.partsSkipped.length).padStart(3)} done ${stage.seconds.toFixed(1).padStart(7)}s  ${rows}\n`);
    }
    process.stdout.write(`run folder: ${result.runDir}\nnext: vrdata report ${join(result.runDir)}\n`);
  },
};
