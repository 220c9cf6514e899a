/**
 * One command per stage, generated from the stage's declared parameters, so `vrdata <stage> --help`
 * always lists every parameter with its default, and the CLI and pipelines share one schema.
 */
import type { CommandModule, Argv } from 'yargs';
import { resolve } from 'node:path';
import { stages } from '../../stages/index.js';
import type { StageDefinition } from '../../pipeline/stage.js';
import { resolveParams } from '../../pipeline/params.js';
import { runStage, resolveRunPath, type EngineBinding } from '../../pipeline/runner.js';
import { listManifests } from '../../pipeline/manifest.js';
import { usageError } from '../../util/errors.js';
import { bindEngine, journalWrapper, type EngineConfigInput } from '../../engines/registry.js';

/** `--shard i/n` -> {index, count}. */
export function parseShard(value: string | undefined): { index: number; count: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) throw usageError('cli', `--shard ${value}: write it as i/n with 0 <= i < n, e.g. --shard 0/4.`);
  return { index, count };
}

const kebab = (name: string) => name.replace(/_/g, '-');

/**
 * A command that shares its name with a stage (`vrdata score --prompt … --continuation …` scores one
 * pair with a local model). The stage command takes the tool's options too and hands over to it when
 * `when(argv)` holds.
 */
export interface SharedCommand {
  tool: CommandModule<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  when(argv: Record<string, unknown>): boolean;
  /** Options the tool demands, demanded only once it takes over. */
  required: string[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function stageCommand(definition: StageDefinition<any>, shared?: SharedCommand): CommandModule {
  const positional = Object.entries(definition.params).find(([, spec]) => spec.positional)?.[0];
  return {
    command: positional ? `${definition.name} [${kebab(positional)}..]` : definition.name,
    describe: definition.describe,
    builder: (yargs: Argv) => {
      let y = yargs
        .option('out', { alias: 'run', type: 'string', demandOption: !shared, describe: 'run folder to read inputs from and write outputs to' })
        .option('parts', { type: 'number', describe: 'hash partitions of sample_id (default: those of the input tables, else 1)' })
        .option('shard', { type: 'string', describe: 'run only parts p with p % n == i, written i/n (several machines split a stage)' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' })
        .option('table', { type: 'array', string: true, default: [], describe: 'rename a table: logical=folder (e.g. --table rollouts=eval_responses)' });
      for (const [name, spec] of Object.entries(definition.params)) {
        const key = kebab(name);
        if (name === positional) {
          y = y.positional(key, { type: 'string', array: true, describe: spec.describe });
          continue;
        }
        y = y.option(key, {
          type: spec.type === 'integer' || spec.type === 'number' ? 'number' : spec.type === 'boolean' ? 'boolean' : 'string',
          array: spec.type === 'string[]',
          describe: spec.describe + (spec.affectsResult === false ? ' (does not change the output)' : ''),
          default: spec.default,
          choices: spec.choices as string[] | undefined,
        });
      }
      for (const [role, what] of Object.entries(definition.engines ?? {})) {
        y = y
          .option(`${role}-model`, { type: 'string', describe: `${role} (${what}): an ONNX model folder, or the model name on the server with --${role}-endpoint` })
          .option(`${role}-endpoint`, { type: 'array', string: true, describe: `${role}: OpenAI-compatible server URL(s) (vLLM, SGLang, vrdata serve)` });
      }
      if (shared && typeof shared.tool.builder === 'function') {
        // The tool's required options are checked in the handler once it takes over.
        y = (shared.tool.builder as (a: Argv) => Argv)(y as unknown as Argv) as unknown as typeof y;
      }
      return y
        .option('threads', { type: 'number', default: 1, describe: 'onnxruntime intra-op threads for embedded engines' })
        .example(`$0 ${definition.name}${positional ? ' <files..>' : ''} --out runs/my-run`, definition.describe);
    },
    handler: async (argv) => {
      if (shared?.when(argv)) {
        const missing = shared.required.filter((key) => argv[key] === undefined);
        if (missing.length) throw usageError('cli', `${definition.name}: also give ${missing.map((k) => `--${k}`).join(', ')}.`);
        return shared.tool.handler(argv);
      }
      if (argv.out === undefined) throw usageError('cli', `${definition.name}: give the run folder with --out.`);
      const runDir = resolve(String(argv.out));
      const given: Record<string, unknown> = {};
      for (const name of Object.keys(definition.params)) {
        const value = argv[kebab(name)];
        if (value !== undefined) given[name] = value;
      }
      const params = resolveParams(definition.name, definition.params, given);
      const tables: Record<string, string> = {};
      for (const item of argv.table as string[]) {
        const [logical, physical] = item.split('=');
        if (!logical || !physical) throw usageError('cli', `--table ${item}: write it as logical=folder.`);
        tables[logical] = physical;
      }
      let parts = argv.parts as number | undefined;
      if (parts === undefined) {
        const firstInput = Object.keys(definition.inputs)[0];
        const manifests = firstInput ? await listManifests(runDir, tables[firstInput] ?? firstInput) : [];
        parts = manifests[0]?.parts ?? 1;
      }
      const engines: Record<string, EngineBinding> = {};
      for (const role of Object.keys(definition.engines ?? {})) {
        const model = argv[`${role}-model`] as string | undefined;
        const endpoints = argv[`${role}-endpoint`] as string[] | undefined;
        if (!model && !endpoints) throw usageError('cli', `${definition.name} needs --${role}-model (an ONNX model folder) or --${role}-endpoint (a server URL).`);
        const config: EngineConfigInput = endpoints
          ? { kind: 'openai', endpoints, model: model ?? '' }
          : { kind: 'onnx', model: resolve(resolveRunPath(model!, runDir)), threads: argv.threads as number };
        engines[role] = await bindEngine(config);
      }
      const result = await runStage({
        runDir,
        stage: definition,
        params,
        parts,
        shard: parseShard(argv.shard as string | undefined),
        tables,
        engines,
        journal: journalWrapper,
        quiet: argv.quiet as boolean,
      });
      const counts = Object.entries(result.rows).map(([t, n]) => `${t}: ${n} rows`).join(', ');
      process.stdout.write(
        `${definition.name}: ${result.partsRun.length} part(s) written, ${result.partsSkipped.length} already done` +
          `${counts ? ` (${counts} written now)` : ''} in ${result.seconds.toFixed(1)}s -> ${runDir}\n`,
      );
    },
  };
}

/** The per-stage commands, in registry order; `own` are stages whose command is written by hand (train). */
export function stageCommands(options: { shared?: Record<string, SharedCommand>; own?: string[] } = {}): CommandModule[] {
  return Object.values(stages)
    .filter((definition) => !options.own?.includes(definition.name))
    .map((definition) => stageCommand(definition, options.shared?.[definition.name]));
}
