/** Every CLI command, one file each. Add yours here. */
import type { CommandModule } from 'yargs';
import { runCommand } from './run.js';
import { stageCommands } from './stages.js';
import { synthCommand } from './synth.js';
import { reportCommand } from './report.js';
import { modelCommand } from './model.js';
import { generateCommand } from './generate.js';
import { scoreCommand } from './score.js';
import { trainCommand } from './train.js';
import { serveCommand } from './serve.js';
import { inspectCommand } from './inspect.js';
import { checkAnswerCommands } from './check-answer.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [runCommand, ...stageCommands({ own: ['train'], shared: { score: { tool: scoreCommand, when: (argv) => argv.prompt !== undefined, required: ['model', 'prompt', 'continuation'] } } }), synthCommand, reportCommand, modelCommand, generateCommand, trainCommand, serveCommand, inspectCommand, ...checkAnswerCommands];
