/**
 * Turning one source row (Bespoke-Stratos conversations, or question/answer files such as
 * MATH500, AIME, MMLU-Pro, APPS, LiveCodeBench, Sky-T1 outputs) into a `samples` row, or into a
 * reason it cannot be used. Pure functions: prepare.ts does the file I/O.
 */
import { sha256, stableStringify } from '../util/hash.js';
import type { Row } from '../io/schema.js';
// One definition of "the last \\boxed{}" (MATH's last_boxed_only_string) for prepare and the verifier.
import { lastBoxed } from '../verify/math/hendrycks.js';

export const THOUGHT_OPEN = '<|begin_of_thought|>';
export const THOUGHT_CLOSE = '<|end_of_thought|>';
export const SOLUTION_OPEN = '<|begin_of_solution|>';
export const SOLUTION_CLOSE = '<|end_of_solution|>';

export interface ColumnMapping {
  question?: string;
  answer?: string;
  response?: string;
  tests?: string;
  system?: string;
  domain?: string;
}

/** Columns tried, in order, when the mapping names none. */
const DEFAULTS = {
  question: ['question', 'problem', 'prompt', 'input', 'query'],
  answer: ['answer', 'final_answer', 'gt', 'reference_answer', 'expected_answer'],
  response: ['response', 'output', 'completion', 'code', 'generation'],
  tests: ['tests', 'input_output', 'test_cases'],
  system: ['system', 'system_prompt'],
  domain: ['domain'],
};

export type Parsed = { ok: true; row: Row } | { ok: false; reason: string };

export interface ParseContext {
  source: string;
  rowIndex: number;
  mapping: ColumnMapping;
  /** Forces the domain instead of detecting it. */
  domain?: string;
}

/** The stable id of a source row: its source name and content, hashed. */
export function sampleIdOf(source: string, raw: unknown): string {
  return sha256(`${source}\n${stableStringify(raw)}`).slice(0, 24);
}

/** Parses one source row. Never throws: anything unusable comes back as a reason. */
export function parseSourceRow(raw: unknown, context: ParseContext): Parsed {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: `row is ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}, expected an object` };
  }
  const record = raw as Record<string, unknown>;
  const system = pickString(record, context.mapping.system, DEFAULTS.system) ?? '';
  let question: string | undefined;
  let response: string | undefined;
  if ('conversations' in record && context.mapping.question === undefined) {
    const turns = record.conversations;
    if (!Array.isArray(turns)) return { ok: false, reason: 'conversations is not a list' };
    const user = turns.find((t) => isTurn(t) && ['user', 'human'].includes(String(t.from ?? t.role)));
    const assistant = turns.find((t) => isTurn(t) && ['assistant', 'gpt'].includes(String(t.from ?? t.role)));
    if (!user) return { ok: false, reason: 'conversations has no user turn ({from: "user", value})' };
    if (!assistant) return { ok: false, reason: 'conversations has no assistant turn ({from: "assistant", value})' };
    const userText = turnText(user);
    const assistantText = turnText(assistant);
    if (typeof userText !== 'string') return { ok: false, reason: 'the user turn has no string "value"' };
    if (typeof assistantText !== 'string') return { ok: false, reason: 'the assistant turn has no string "value"' };
    question = userText;
    response = assistantText;
  } else {
    const q = pick(record, context.mapping.question, DEFAULTS.question);
    if (q === undefined) {
      return { ok: false, reason: `no question column (tried ${(context.mapping.question ? [context.mapping.question] : DEFAULTS.question).join(', ')}); name it with --question-column` };
    }
    if (typeof q !== 'string') return { ok: false, reason: `question column is ${kindOf(q)}, expected a string` };
    question = q;
    const r = pick(record, context.mapping.response, DEFAULTS.response);
    if (r !== undefined && r !== null) {
      const text = Array.isArray(r) ? r[0] : r;
      if (typeof text !== 'string') return { ok: false, reason: `response column is ${kindOf(text)}, expected a string` };
      response = text;
    }
  }
  if (question.trim() === '') return { ok: false, reason: 'question is empty' };
  // LiveCodeBench's call-based problems name the function to write only in starter_code: it belongs in
  // the question (the model must see the signature, and the verifier reads the name from there).
  const starter = record.starter_code;
  if (typeof starter === 'string' && starter.trim() !== '') {
    question = `${question.trimEnd()}\n\nComplete this starter code and answer with the whole program in one \`\`\`python block:\n\`\`\`python\n${starter.trimEnd()}\n\`\`\``;
  }

  let thought: string | null = null;
  let solution: string | null = null;
  if (response !== undefined) {
    const split = splitResponse(response);
    if (!split.ok) return split;
    thought = split.thought;
    solution = split.solution;
  } else {
    solution = workedSolution(record.solution); // question/answer files (MATH, AIME) carry a worked solution
  }

  const tests = normaliseTests(pick(record, context.mapping.tests, DEFAULTS.tests));
  if (tests && !tests.ok) return tests;
  const testsJson = tests?.ok ? tests.json : null;
  const givenAnswer = pick(record, context.mapping.answer, DEFAULTS.answer);
  let answer: string | undefined;
  if (givenAnswer !== undefined && givenAnswer !== null) {
    answer = answerText(givenAnswer);
    if (answer === undefined) return { ok: false, reason: `answer column is ${kindOf(givenAnswer)}, expected a string or number` };
  }
  if (answer === undefined && solution !== null) answer = extractFinalAnswer(solution) ?? undefined;
  const domain = context.domain ?? detectDomain(record, { question, system, tests: testsJson, answer });
  if (answer === undefined && domain === 'code' && solution !== null) answer = solution.trim();
  if (answer === undefined && domain === 'code' && testsJson) answer = '';
  if (answer === undefined) {
    return { ok: false, reason: solution === null ? 'no answer column and no response to extract one from' : 'no \\boxed{} answer or final-answer line in the solution' };
  }
  if (domain === 'multiple_choice') {
    // MMLU-Pro keeps its choices in "options": without them the question cannot be answered by letter.
    const options = optionList(record.options);
    if (options) question = `${question.trimEnd()}\n\nOptions:\n${options.map((o, i) => `${String.fromCharCode(65 + i)}. ${o}`).join('\n')}`;
  }
  const hint = domain === 'code' ? (solution?.trim() || answer) : answer;
  return {
    ok: true,
    row: {
      sample_id: sampleIdOf(context.source, raw),
      source: context.source,
      row_index: context.rowIndex,
      domain,
      system,
      question,
      reference_thought: thought,
      reference_solution: solution,
      reference_answer: answer,
      hint,
      tests: testsJson,
    },
  };
}

/** Splits "<|begin_of_thought|>…<|end_of_thought|>…<|begin_of_solution|>…<|end_of_solution|>". */
export function splitResponse(text: string): { ok: true; thought: string; solution: string } | { ok: false; reason: string } {
  const count = (marker: string) => text.split(marker).length - 1;
  for (const marker of [THOUGHT_OPEN, THOUGHT_CLOSE, SOLUTION_OPEN, SOLUTION_CLOSE]) {
    if (count(marker) > 1) return { ok: false, reason: `response has ${count(marker)} ${marker} markers, expected one` };
  }
  const to = text.indexOf(THOUGHT_OPEN);
  const tc = text.indexOf(THOUGHT_CLOSE);
  const so = text.indexOf(SOLUTION_OPEN);
  const sc = text.indexOf(SOLUTION_CLOSE);
  if (to < 0) return { ok: false, reason: `response does not start a thought (${THOUGHT_OPEN} missing)` };
  if (tc < 0) return { ok: false, reason: `response is cut off inside the thought (${THOUGHT_CLOSE} missing, ${text.length} characters)` };
  if (tc < to) return { ok: false, reason: `unbalanced tags: ${THOUGHT_CLOSE} comes before ${THOUGHT_OPEN}` };
  if (so < 0) return { ok: false, reason: `response has no solution (${SOLUTION_OPEN} missing after the thought)` };
  if (so < tc) return { ok: false, reason: `unbalanced tags: ${SOLUTION_OPEN} comes before ${THOUGHT_CLOSE}` };
  if (sc < 0) return { ok: false, reason: `response is cut off inside the solution (${SOLUTION_CLOSE} missing)` };
  if (sc < so) return { ok: false, reason: `unbalanced tags: ${SOLUTION_CLOSE} comes before ${SOLUTION_OPEN}` };
  const thought = text.slice(to + THOUGHT_OPEN.length, tc).trim();
  const solution = text.slice(so + SOLUTION_OPEN.length, sc).trim();
  if (solution === '') return { ok: false, reason: 'the solution between the markers is empty' };
  return { ok: true, thought, solution };
}

/** The last \boxed{} answer, else a "final answer is …" / "Answer: …" line. */
export function extractFinalAnswer(solution: string): string | null {
  const boxed = lastBoxed(solution);
  if (boxed !== null) return boxed.trim();
  const lines = solution.split('\n').map((l) => l.trim()).filter(Boolean).reverse();
  for (const line of lines) {
    const m = /(?:final answer is|final answer:|answer is|^answer\s*[:：])\s*(.+)$/i.exec(line);
    if (m) return m[1]!.replace(/^\$+|\$+$|\.$/g, '').trim();
  }
  return null;
}

function detectDomain(record: Record<string, unknown>, f: { question: string; system: string; tests: string | null; answer?: string }): string {
  const given = record.domain;
  if (typeof given === 'string' && ['math', 'code', 'science', 'multiple_choice', 'other'].includes(given)) return given;
  if (f.tests) return 'code';
  if ('options' in record && /^[A-J]$/.test(String(f.answer ?? '').trim())) return 'multiple_choice';
  if (/\b(stdin|stdout|python function|executable python|standard input)\b/i.test(f.question)) return 'code';
  return 'math';
}

function normaliseTests(value: unknown): { ok: true; json: string } | { ok: false; reason: string } | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      try {
        // LiveCodeBench ships Python-literal lists: single quotes.
        parsed = JSON.parse(pythonLiteralToJson(value));
      } catch {
        return { ok: false, reason: 'tests column is not JSON (nor a Python literal list)' };
      }
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return { ok: false, reason: 'tests column is neither a list nor an object' };
  return { ok: true, json: JSON.stringify(parsed) };
}

/** Converts a Python literal (single-quoted strings, True/False/None) to JSON text. */
export function pythonLiteralToJson(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const quote = c;
      let s = '';
      i++;
      for (; i < text.length && text[i] !== quote; i++) {
        if (text[i] === '\\' && i + 1 < text.length) {
          const next = text[++i]!;
          s += next === 'n' ? '\n' : next === 't' ? '\t' : next === 'r' ? '\r' : next === '\\' ? '\\' : next === "'" ? "'" : next === '"' ? '"' : `\\${next}`;
        } else s += text[i];
      }
      out += JSON.stringify(s);
    } else if (text.startsWith('True', i) && !/\w/.test(text[i + 4] ?? '')) {
      out += 'true';
      i += 3;
    } else if (text.startsWith('False', i) && !/\w/.test(text[i + 5] ?? '')) {
      out += 'false';
      i += 4;
    } else if (text.startsWith('None', i) && !/\w/.test(text[i + 4] ?? '')) {
      out += 'null';
      i += 3;
    } else out += c;
  }
  return out;
}

/**
 * A worked solution: a string, or the first of a list (OlympiadBench), also when the list is
 * JSON-encoded. A string that merely starts with "[" (MATH's "[asy]" diagrams) is kept whole.
 */
function workedSolution(value: unknown): string | null {
  let list = value;
  if (typeof value === 'string') {
    if (!value.trimStart().startsWith('[')) return value;
    try {
      list = JSON.parse(value);
    } catch {
      return value;
    }
    if (!Array.isArray(list)) return value;
  }
  if (Array.isArray(list) && typeof list[0] === 'string') return list[0];
  return null;
}

/** "null", "an array", "a number", … for reasons that name what a column held. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (ArrayBuffer.isView(value)) return 'a list of numbers';
  const type = typeof value;
  return type === 'object' ? 'an object (struct)' : `a ${type}`;
}

/** MMLU-Pro options: a list of strings, or that list as a Python literal string; undefined otherwise. */
function optionList(value: unknown): string[] | undefined {
  let list = value;
  if (typeof value === 'string') {
    try {
      list = JSON.parse(pythonLiteralToJson(value));
    } catch {
      return undefined;
    }
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > 26 || !list.every((o) => typeof o === 'string')) return undefined;
  return list as string[];
}

function answerText(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') {
    if (Array.isArray(value) && value.length > 0) return answerText(value[0]);
    return undefined;
  }
  // OlympiadBench stores "['2']".
  const listMatch = /^\[\s*'(.*)'\s*\]$/s.exec(value.trim());
  return listMatch ? listMatch[1]! : value.trim();
}

function pick(record: Record<string, unknown>, chosen: string | undefined, defaults: string[]): unknown {
  if (chosen !== undefined) return record[chosen];
  for (const name of defaults) if (record[name] !== undefined) return record[name];
  return undefined;
}

function pickString(record: Record<string, unknown>, chosen: string | undefined, defaults: string[]): string | undefined {
  const value = pick(record, chosen, defaults);
  return typeof value === 'string' ? value : undefined;
}

function isTurn(t: unknown): t is Record<string, unknown> {
  return typeof t === 'object' && t !== null;
}

function turnText(t: Record<string, unknown>): unknown {
  return t.value ?? t.content;
}
