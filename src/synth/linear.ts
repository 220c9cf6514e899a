/**
 * Small linear equations in x with an integer solution, solved step by step:
 *   2 steps  a*x + b = c                 (move b, divide by a)
 *   3 steps  a*x + b = c*x + d           (collect x, move b, divide)
 *   4 steps  a*(x + b) = c*x + d         (expand, collect x, move the constant, divide)
 * Coefficients are 2..9 and the x coefficient left after collecting is at least 2, so the last
 * step is always a real division. The digit range sets the size of x and of the constants.
 */
import type { SynthRng } from './random.js';
import type { Difficulty, Problem } from './types.js';

/** A nonzero integer with a digit count from the difficulty's range, either sign. */
function drawSigned(rng: SynthRng, d: Difficulty): number {
  const digits = rng.int(d.minDigits, d.maxDigits);
  const lo = digits === 1 ? 1 : 10 ** (digits - 1);
  const v = rng.int(lo, 10 ** digits - 1);
  return rng.next() < 0.5 ? -v : v;
}

/** "3x + 7", "3x - 7", "-2x + 1", "x" ... with `b` = 0 omitted. */
function side(a: number, b: number): string {
  const ax = a === 1 ? 'x' : a === -1 ? '-x' : `${a}x`;
  if (b === 0) return ax;
  return `${ax} ${b < 0 ? '-' : '+'} ${Math.abs(b)}`;
}

/** "22 - 7 = 15" or "8 + 7 = 15": the right side after moving `b` across. */
function moveConstant(rhs: number, b: number): string {
  return b > 0 ? `${rhs} - ${b}` : `${rhs} + ${-b}`;
}

function paren(v: number): string {
  return v < 0 ? `(${v})` : String(v);
}

/** The shared tail: from a*x + b = rhs to x = rhs'/a, as thought lines. */
function finish(a: number, b: number, rhs: number, x: number, lines: string[]): void {
  const moved = rhs - b;
  const verb = b > 0 ? `Subtract ${b} from` : `Add ${-b} to`;
  lines.push(`${verb} both sides: ${side(a, 0)} = ${moveConstant(rhs, b)} = ${moved}.`);
  lines.push(`Divide both sides by ${a}: x = ${moved} / ${paren(a)} = ${x}.`);
}

/** One linear-equation problem with 2, 3 or 4 solving steps (clamped to that range). */
export function linearProblem(rng: SynthRng, d: Difficulty): Problem {
  const steps = Math.min(4, Math.max(2, rng.int(d.minSteps, d.maxSteps)));
  const x = drawSigned(rng, d);
  const lines: string[] = [];
  let equation: string;
  if (steps === 2) {
    const a = rng.int(2, 9);
    const b = drawSigned(rng, d);
    const c = a * x + b;
    equation = `${side(a, b)} = ${c}`;
    finish(a, b, c, x, lines);
  } else if (steps === 3) {
    const c = rng.int(2, 7);
    const a = rng.int(c + 2, 9);
    const b = drawSigned(rng, d);
    const rhs = (a - c) * x + b; // a*x + b = c*x + rhs  <=>  (a - c)*x + b = rhs
    equation = `${side(a, b)} = ${side(c, rhs)}`;
    lines.push(`Subtract ${c}x from both sides: ${side(a - c, b)} = ${rhs}.`);
    finish(a - c, b, rhs, x, lines);
  } else {
    const a = rng.int(3, 9);
    const c = rng.int(1, a - 2);
    const b = drawSigned(rng, d);
    const ab = a * b;
    const rhs = (a - c) * x + ab; // a*x + ab = c*x + rhs  <=>  (a - c)*x + ab = rhs
    const left = `${a}(x ${b < 0 ? '-' : '+'} ${Math.abs(b)})`;
    const right = side(c, rhs);
    equation = `${left} = ${right}`;
    lines.push(`Expand the left side: ${side(a, ab)} = ${right}.`);
    lines.push(`Subtract ${side(c, 0)} from both sides: ${side(a - c, ab)} = ${rhs}.`);
    finish(a - c, ab, rhs, x, lines);
  }
  lines.push(`So x = ${x}.`);
  return {
    question: `Solve for x: ${equation}.`,
    thought: lines.join('\n'),
    solution: `The solution of ${equation} is x = ${x}.`,
    answer: String(x),
    steps,
  };
}
