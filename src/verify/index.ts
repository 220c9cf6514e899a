/**
 * Answer verification, the public API the `verify` stage builds on. One call decides whether a
 * response answers correctly, with the extracted answer, a reason and the verifier's identity
 * (name@version, so a verdict records which rules produced it). Every check has a time budget and
 * answers false with a reason when it runs out; code runs only inside the sandbox (see code/sandbox.ts).
 */

import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { checkMath, type MathConfig } from './math/index.js';
import { extractChoice, referenceChoice } from './mc.js';
import { checkCode, type CodeTests } from './code/index.js';
import type { SandboxOptions } from './code/sandbox.js';
import { normalizeLatex } from './math/normalize.js';
import { parseLatexAnswer } from './math/extract.js';
import { Budget, BudgetExceeded } from './budget.js';
import { VrdataError } from '../util/errors.js';

export type { CodeTests } from './code/index.js';
export type { MathConfig } from './math/index.js';
export type { SandboxOptions } from './code/sandbox.js';

export type Domain = 'math' | 'code' | 'multiple_choice' | 'science' | 'other';

export interface VerifyInput {
  domain: Domain;
  response: string;
  /** The reference answer: a bare answer (LaTeX or plain), a choice letter, or unused for code. */
  reference: string;
  tests?: CodeTests;
  config?: MathConfig;
}

export interface Verdict {
  correct: boolean;
  extracted: string | null;
  reason: string;
  ms: number;
  /** name@version of the rules that decided, e.g. "math-mathverify@1". */
  verifier: string;
}

export interface VerifyOptions {
  /** Budget for a math or choice check (default 2000 ms); code uses sandbox.timeoutMs per test. */
  timeoutMs?: number;
  sandbox?: SandboxOptions;
  /** Wall-clock limit for all tests of one code problem (default 30 s). */
  problemTimeoutMs?: number;
  /** Tests of one problem run at once (default 2). */
  parallel?: number;
}

/** Bumped whenever a rule change can flip a verdict, so cached verdicts are recomputed. */
export const VERIFIER_VERSION = 1;

const LATEX_ENV = /(?<!\\)\$|\\\(|\\\[|\\boxed\{|\\fbox\{/;

/** A bare reference answer becomes \boxed{...} so extraction treats it as the whole answer. */
export function referenceAsResponse(reference: string): string {
  return LATEX_ENV.test(reference) ? reference : `\\boxed{${reference}}`;
}

/** A short, parseable math answer with no prose (words outside \text{} and commands). */
export function isCheckableMath(text: string, maxLength = 120): boolean {
  const r = text.trim();
  if (r === '' || r.length > maxLength) return false;
  const bare = r.replace(/\\(?:text|textbf|mathrm|mbox|operatorname|begin|end)\s*\{[^{}]*\}/g, ' ').replace(/\\[a-zA-Z]+/g, ' ');
  if (/[a-zA-Z]{4,}/.test(bare)) return false;
  try {
    return parseLatexAnswer(normalizeLatex(referenceAsResponse(r)), new Budget(200)) !== null;
  } catch (e) {
    if (e instanceof BudgetExceeded) return false;
    throw e;
  }
}

/**
 * The response as the extractor should see it: a bare answer ("3\sqrt{13}", no delimiters, no prose)
 * is boxed, since extraction would otherwise find only a number inside it; anything else is unchanged.
 */
export function responseForExtraction(response: string): string {
  if (LATEX_ENV.test(response) || response.length > 300) return response;
  return isCheckableMath(response, 300) ? `\\boxed{${response.trim()}}` : response;
}

/** Whether a verdict can be computed for this domain and reference (false e.g. for open science answers). */
export function hasVerifier(domain: Domain, reference: string, tests?: CodeTests): boolean {
  switch (domain) {
    case 'math':
      return reference.trim() !== '';
    case 'multiple_choice':
      return referenceChoice(reference) !== null;
    case 'code':
      return tests !== undefined && tests.cases.length > 0;
    case 'science':
      return referenceChoice(reference) !== null || isCheckableMath(reference);
    default:
      return false;
  }
}

function mathVerdict(input: VerifyInput, timeoutMs: number, t0: number): Verdict {
  const policy = input.config?.policy ?? 'mathverify';
  const r = checkMath(referenceAsResponse(input.reference), responseForExtraction(input.response), input.config ?? {}, timeoutMs);
  return { ...r, ms: performance.now() - t0, verifier: `math-${policy}@${VERIFIER_VERSION}` };
}

function choiceVerdict(input: VerifyInput, t0: number): Verdict {
  const want = referenceChoice(input.reference);
  const got = extractChoice(input.response);
  const ms = performance.now() - t0;
  const verifier = `choice@${VERIFIER_VERSION}`;
  if (want === null) return { correct: false, extracted: got, reason: `reference '${input.reference.slice(0, 40)}' is not a choice letter A-J`, ms, verifier };
  if (got === null) return { correct: false, extracted: null, reason: 'no choice letter found in the response', ms, verifier };
  return { correct: got === want, extracted: got, reason: got === want ? 'same choice' : `chose ${got}, reference ${want}`, ms, verifier };
}

/** Verifies one response. Never throws for bad model output; throws VrdataError for unusable inputs (e.g. no sandbox). */
export async function verify(input: VerifyInput, options: VerifyOptions = {}): Promise<Verdict> {
  const t0 = performance.now();
  const timeoutMs = options.timeoutMs ?? 2000;
  switch (input.domain) {
    case 'math':
      return mathVerdict(input, timeoutMs, t0);
    case 'multiple_choice':
      return choiceVerdict(input, t0);
    case 'science':
      if (referenceChoice(input.reference) !== null) return choiceVerdict(input, t0);
      if (isCheckableMath(input.reference)) return mathVerdict(input, timeoutMs, t0);
      return { correct: false, extracted: null, reason: 'open science answer: no verifier', ms: performance.now() - t0, verifier: `none@${VERIFIER_VERSION}` };
    case 'code': {
      if (!input.tests) throw new VrdataError('verify', 'code verification needs tests (CodeTests); give the row its tests or mark the domain');
      const isolation = options.sandbox?.unsafe ? 'unsafe' : 'bwrap';
      const r = await checkCode(input.response, input.tests, { sandbox: options.sandbox, problemTimeoutMs: options.problemTimeoutMs, parallel: options.parallel });
      return { correct: r.correct, extracted: r.extracted, reason: r.reason, ms: performance.now() - t0, verifier: `code-${isolation}@${VERIFIER_VERSION}` };
    }
    default:
      return { correct: false, extracted: null, reason: `no verifier for domain '${input.domain}'`, ms: performance.now() - t0, verifier: `none@${VERIFIER_VERSION}` };
  }
}

/** Verifies many inputs, at most `concurrency` at once (code problems are the slow ones); results keep input order. */
export async function verifyMany(inputs: VerifyInput[], options: VerifyOptions & { concurrency?: number } = {}): Promise<Verdict[]> {
  const limit = pLimit(Math.max(1, options.concurrency ?? 2));
  return Promise.all(inputs.map((i) => limit(() => verify(i, options))));
}
