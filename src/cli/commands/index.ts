/** Every CLI command, one file each. Add yours here. */
import type { CommandModule } from 'yargs';
import { synthCommand } from './synth.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [synthCommand];
