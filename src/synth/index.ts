/**
 * Synthetic reasoning tasks for the laptop demo: deterministic by seed, in the Bespoke-Stratos
 * layout, with a held-out eval split that shares no question with the training rows.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VrdataError } from '../util/errors.js';
import { arithProblem } from './arith.js';
import { linearProblem } from './linear.js';
import { SynthRng } from './random.js';
import { toEvalRow, toStratosRow, type EvalRow, type StratosRow } from './format.js';
import type { Difficulty, Problem } from './types.js';

export type { Difficulty, Problem } from './types.js';
export { SYNTH_SYSTEM_PROMPT, type EvalRow, type StratosRow } from './format.js';

/** The task generators by name. */
export const TASKS = {
  arith: arithProblem,
  linear: linearProblem,
} as const satisfies Record<string, (rng: SynthRng, d: Difficulty) => Problem>;

export type TaskName = keyof typeof TASKS;

export interface SynthOptions {
  task: TaskName;
  /** Training rows. */
  n: number;
  /** Held-out eval rows (0 for none). */
  nEval: number;
  seed: number;
  difficulty: Difficulty;
}

export interface SynthResult {
  train: StratosRow[];
  eval: EvalRow[];
  /** Problems behind the training rows, in the same order (answers and step counts). */
  trainProblems: Problem[];
}

/** Draws from a generator until `count` new questions are found; refuses when the space is too small. */
function drawUnique(opts: { task: TaskName; count: number; rng: SynthRng; d: Difficulty; seen: Set<string> }): Problem[] {
  const out: Problem[] = [];
  const budget = opts.count * 50 + 1000;
  for (let tries = 0; out.length < opts.count; tries++) {
    if (tries >= budget) {
      throw new VrdataError(
        'synth',
        `only ${out.length} distinct ${opts.task} questions found after ${budget} draws (wanted ${opts.count}); ` +
          'widen --digits or --steps, or ask for fewer rows',
      );
    }
    const p = TASKS[opts.task](opts.rng, opts.d);
    if (opts.seen.has(p.question)) continue;
    opts.seen.add(p.question);
    out.push(p);
  }
  return out;
}

/**
 * Generates the training rows and the eval split. The eval split is drawn first, from its own
 * stream, so it depends only on (task, seed, nEval, difficulty) and not on n; training rows then
 * skip every eval question (and repeats).
 */
export function synthesize(opts: SynthOptions): SynthResult {
  const d = opts.difficulty;
  if (!(d.minSteps >= 1 && d.minSteps <= d.maxSteps && d.minDigits >= 1 && d.minDigits <= d.maxDigits && d.maxDigits <= 6)) {
    throw new VrdataError('synth', `bad difficulty ${JSON.stringify(d)}: need 1 <= min <= max for steps and digits, digits <= 6`, {
      exitCode: 2,
    });
  }
  const seen = new Set<string>();
  const evalProblems = drawUnique({ task: opts.task, count: opts.nEval, rng: new SynthRng(opts.seed, 'eval'), d, seen });
  const trainProblems = drawUnique({ task: opts.task, count: opts.n, rng: new SynthRng(opts.seed, 'train'), d, seen });
  return {
    train: trainProblems.map(toStratosRow),
    eval: evalProblems.map((p) => toEvalRow(p, opts.task)),
    trainProblems,
  };
}

/** Writes rows as JSON lines (creating the folder). */
export async function writeJsonl(path: string, rows: readonly unknown[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** Parses "2-4" or "3" into an inclusive range. */
export function parseRange(text: string, what: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(text);
  if (!m) throw new VrdataError('synth', `bad ${what} range "${text}": write MIN-MAX (e.g. 2-4) or one number`, { exitCode: 2 });
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > hi) throw new VrdataError('synth', `bad ${what} range "${text}": MIN is above MAX`, { exitCode: 2 });
  return [lo, hi];
}
