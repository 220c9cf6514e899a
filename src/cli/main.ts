#!/usr/bin/env node
/**
 * The `vrdata` command line. Every command lives in its own file under ./commands and is
 * listed in ./commands/index.ts. Exit codes: 0 ok, 1 failure, 2 usage error.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.js';
import { VrdataError, describeError, usageError } from '../util/errors.js';

export async function main(argv: string[]): Promise<number> {
  const parser = yargs(argv)
    .scriptName('vrdata')
    .usage('$0 <command> [options]\n\nBuild variational-reasoning training data and fine-tune on it.\nEvery stage is its own command; `vrdata run <pipeline.yaml>` runs them all.')
    .strict()
    .demandCommand(1, 'Name a command (see the list above).')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue('Docs: README.md and docs/ in the project folder.')
    .fail((msg, err, y) => {
      if (err) throw err;
      // Throwing stops yargs before it runs the command's handler with missing options.
      y.showHelp();
      throw usageError('cli', msg);
    })
    .exitProcess(false);
  for (const command of commands) parser.command(command);
  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof VrdataError) {
      process.stderr.write(`vrdata ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`vrdata: unexpected error: ${describeError(err)}\n`);
    if (process.env.VRDATA_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    return 1;
  }
  return (process.exitCode as number | undefined) ?? 0;
}

const code = await main(hideBin(process.argv));
process.exitCode = code;
