/**
 * The Bespoke-Stratos row layout the synthetic tasks are written in, so that `prepare` reads
 * them exactly as it reads the real data: a system prompt and a user/assistant conversation
 * whose assistant turn holds the thought and the solution between their markers.
 */
import type { Problem } from './types.js';

/**
 * A short system prompt (the real Bespoke-Stratos one is ~1,000 characters, which would
 * dominate every sequence a CPU-trained toy model sees).
 */
export const SYNTH_SYSTEM_PROMPT =
  'Think step by step between <|begin_of_thought|> and <|end_of_thought|>, then give the solution with the final answer in \\boxed{}.';

/** One Bespoke-Stratos training row. */
export interface StratosRow {
  system: string;
  conversations: [{ from: 'user'; value: string }, { from: 'assistant'; value: string }];
}

/** One held-out evaluation row; `source` names the task and difficulty for per-source breakdowns. */
export interface EvalRow {
  problem: string;
  answer: string;
  source: string;
}

/** The assistant turn: thought and solution between the Bespoke-Stratos markers, the answer boxed last. */
export function assistantText(p: Problem): string {
  return (
    `<|begin_of_thought|>\n\n${p.thought}\n\n<|end_of_thought|>\n\n` +
    `<|begin_of_solution|>\n\n${p.solution}\n\nThe answer is \\boxed{${p.answer}}.\n\n<|end_of_solution|>`
  );
}

export function toStratosRow(p: Problem): StratosRow {
  return {
    system: SYNTH_SYSTEM_PROMPT,
    conversations: [
      { from: 'user', value: p.question },
      { from: 'assistant', value: assistantText(p) },
    ],
  };
}

export function toEvalRow(p: Problem, task: string): EvalRow {
  return { problem: p.question, answer: p.answer, source: `${task}-${p.steps}step` };
}
