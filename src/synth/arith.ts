/**
 * Multi-step arithmetic: start from a number and apply a chain of operations left to right,
 * e.g. "Start with 12. Add 7, multiply by 3, then subtract 5. What is the result?".
 * Subtraction never goes below zero, division is always exact and multiplication uses a
 * one-digit factor, so every intermediate value is a small non-negative integer that a tiny
 * model can, in principle, compute digit by digit.
 */
import type { SynthRng } from './random.js';
import type { Difficulty, Problem } from './types.js';

type Op = 'add' | 'sub' | 'mul' | 'div';

const SYMBOL: Record<Op, string> = { add: '+', sub: '-', mul: '*', div: '/' };
const VERB: Record<Op, (v: number) => string> = {
  add: (v) => `add ${v}`,
  sub: (v) => `subtract ${v}`,
  mul: (v) => `multiply by ${v}`,
  div: (v) => `divide by ${v}`,
};
/** Above this, multiplying again would leave the range a tiny model can learn. */
const MUL_LIMIT = 200;

/** A number with a digit count drawn from the difficulty's range (1 digit = 1..9). */
function drawNumber(rng: SynthRng, d: Difficulty): number {
  const digits = rng.int(d.minDigits, d.maxDigits);
  const lo = digits === 1 ? 1 : 10 ** (digits - 1);
  return rng.int(lo, 10 ** digits - 1);
}

/** Picks the next operation and operand that keep the value a small non-negative integer. */
function drawStep(rng: SynthRng, d: Difficulty, value: number): { op: Op; operand: number } {
  for (;;) {
    const op = rng.pick<Op>(['add', 'sub', 'mul', 'div']);
    if (op === 'add') return { op, operand: drawNumber(rng, d) };
    if (op === 'sub') {
      const operand = drawNumber(rng, d);
      if (operand <= value) return { op, operand };
    } else if (op === 'mul') {
      if (value <= MUL_LIMIT && value > 0) return { op, operand: rng.int(2, 9) };
    } else {
      const divisors = [2, 3, 4, 5, 6, 7, 8, 9].filter((k) => value > 0 && value % k === 0 && value / k > 1);
      if (divisors.length > 0) return { op, operand: rng.pick(divisors) };
    }
  }
}

function apply(op: Op, a: number, b: number): number {
  if (op === 'add') return a + b;
  if (op === 'sub') return a - b;
  if (op === 'mul') return a * b;
  return a / b;
}

/** One arithmetic-chain problem with `steps` operations drawn from the difficulty's range. */
export function arithProblem(rng: SynthRng, d: Difficulty): Problem {
  const steps = rng.int(d.minSteps, d.maxSteps);
  const start = drawNumber(rng, d);
  let value = start;
  const verbs: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i < steps; i++) {
    const { op, operand } = drawStep(rng, d, value);
    const next = apply(op, value, operand);
    verbs.push(VERB[op](operand));
    lines.push(`${value} ${SYMBOL[op]} ${operand} = ${next}`);
    value = next;
  }
  const chain = verbs.length === 1 ? verbs[0] : `${verbs.slice(0, -1).join(', ')}, then ${verbs[verbs.length - 1]}`;
  return {
    question: `Start with ${start}. ${capitalise(chain as string)}. What is the result?`,
    thought: [`Start: ${start}.`, ...lines.map((l, i) => `Step ${i + 1}: ${l}.`), `So the result is ${value}.`].join('\n'),
    solution: `${lines.join(', ')}.`,
    answer: String(value),
    steps,
  };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
