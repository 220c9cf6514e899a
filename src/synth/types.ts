/** What every synthetic task generator produces and accepts. */

/** One generated problem, before it is put in the Bespoke-Stratos layout. */
export interface Problem {
  question: string;
  /** The step-by-step reasoning, one step per line (goes between the thought markers). */
  thought: string;
  /** The short worked solution without the final boxed answer line. */
  solution: string;
  /** The exact answer, as it appears inside \boxed{}. */
  answer: string;
  /** Reasoning steps this problem took (its difficulty). */
  steps: number;
}

/** Difficulty knobs shared by the tasks; each range is inclusive. */
export interface Difficulty {
  /** Number of operations (arith) or solving steps (linear: 2, 3 or 4). */
  minSteps: number;
  maxSteps: number;
  /** Digits of the numbers drawn (arith operands; linear constants and solution). */
  minDigits: number;
  maxDigits: number;
}
