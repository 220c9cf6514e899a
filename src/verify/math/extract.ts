/**
 * Finding the final answer in a response. Candidates come from patterns with priorities (lower
 * first): "final answer is", \boxed{}, "Answer:", any LaTeX environment, and plain numbers or
 * expressions; within a priority the rightmost match wins, and the first candidate that parses is
 * the answer. This follows Math-Verify's extraction (parser.py) so its configs mean the same here.
 * Only the last WINDOW characters of a long response are searched, which bounds the time on 1 MB inputs.
 */

import type { Node } from './ast.js';
import { Budget, BudgetExceeded } from '../budget.js';
import { normalizeLatex, DEFAULT_NORMALIZE, type NormalizeOptions } from './normalize.js';
import { parseMath, ParseError } from './parse.js';

/** Responses are searched in their last WINDOW characters. */
export const WINDOW = 32_768;

export interface LatexTarget {
  type: 'latex';
  /** Priority of \boxed{} matches: 0 first, 50 after "final answer is" (default), -1 never. */
  boxedPriority: number;
  tryWithoutAnchor: boolean;
  normalize: NormalizeOptions;
}
export interface ExprTarget {
  type: 'expr';
  tryWithoutAnchor: boolean;
}
export type Target = LatexTarget | ExprTarget;

export const LATEX_TARGET: LatexTarget = { type: 'latex', boxedPriority: 50, tryWithoutAnchor: true, normalize: DEFAULT_NORMALIZE };
export const EXPR_TARGET: ExprTarget = { type: 'expr', tryWithoutAnchor: true };

/** One extracted answer: its tree (null when it did not parse) and its normalised text. */
export interface Extracted {
  node: Node | null;
  text: string;
}

const ci = (w: string): string => [...w].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c === ' ' ? ' ' : c)).join('');

function envPattern(prefix: string, boxed: boolean): string {
  const pct = `(?<${prefix}percent>(?:\\\\?%|[Pp]ercent|[Pp]ercentage|[Pp]ct))`;
  let dd = '(?:[^$]|\\$(?!\\$))';
  let db = '(?:[^\\\\]|\\\\(?!\\]))';
  let id = '(?:\\\\[$]|[^\\n$])';
  let ip = '(?:[^\\\\\\n]|\\\\(?!\\)))';
  let ib = '[^\\n\\]\\[]';
  if (boxed) {
    const wrap = (c: string): string => `${c}*?\\\\boxed\\{${c}+?\\}${c}*?`;
    dd = wrap(dd);
    db = wrap(db);
    id = wrap(id);
    ip = wrap(ip);
    ib = wrap(ib);
  } else {
    dd += '+?';
    db += '+?';
    id += '+?';
    ip += '+?';
    ib += '+?';
  }
  const pats = [
    `(?<!\\\\)\\$\\$(?<${prefix}latexDisplayDollar>${dd})(?<!\\\\)\\$\\$`,
    `(?<!\\\\)\\\\\\[(?<${prefix}latexDisplayBracket>${db})(?<!\\\\)\\\\\\]`,
    `(?<!\\\\|\\d)\\$(?<${prefix}latexInlineDollar>${id})(?<!\\\\)\\$`,
    `(?<!\\\\)\\\\\\((?<${prefix}latexInlineParenthesis>${ip})(?<!\\\\)\\\\\\)`,
    `\\s\\[(?<${prefix}latexInlineBracket>${ib})\\]\\s`,
  ];
  if (!boxed) pats.push(`(?<${prefix}latexFraction>-?\\\\frac\\{-?\\d+(?:[.,]\\d+)?\\}\\{-?\\d+(?:[.,]\\d+)?\\})`);
  return `(?:(?:${pats.join('|')})\\s*${pct}?)`;
}

function chain(boxed: boolean): string {
  let s = envPattern('first_', boxed);
  for (let i = 1; i <= 5; i++) s += `(?:\\s*(?:,?and|,?or|,)\\s*${envPattern(`next${i}_`, boxed)})?`;
  return s;
}

/** A compiled pattern; named groups are turned into numbered ones (names[i] is group i+1), which is much cheaper per match. */
type Pat = { re: RegExp; prio: number; target: Target; names: string[] };

function compile(source: string, flags: string, prio: number, target: Target): Pat {
  const names: string[] = [];
  const plain = source.replace(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g, (_m, name: string) => {
    names.push(name);
    return '(';
  });
  return { re: new RegExp(plain, flags), prio, target, names };
}

function groupsOf(m: RegExpExecArray, names: string[]): Record<string, string | undefined> {
  const g: Record<string, string | undefined> = {};
  for (let i = 0; i < names.length; i++) if (m[i + 1] !== undefined) g[names[i]!] = m[i + 1];
  return g;
}

const latexCache = new Map<string, Pat[]>();
function latexPatterns(t: LatexTarget): Pat[] {
  const key = `${t.boxedPriority}|${t.tryWithoutAnchor}|${JSON.stringify(t.normalize)}`;
  const hit = latexCache.get(key);
  if (hit) return hit;
  const c = chain(false);
  const out: Pat[] = [
    compile(`${ci('final answer is')}:?\\s*${c}\\.?\\s?I hope`, 'g', 0, t),
    compile(`${ci('final answer')}[\\s\\S]{0,100}?\\s+is:?\\s*${c}`, 'g', 50, t),
    compile(`${ci('answer')}:[\\s\\S]{0,50}?${c}`, 'g', 100, t),
    compile(`${ci('answer')}[\\s\\S]{0,50}?${c}`, 'g', 200, t),
  ];
  if (t.tryWithoutAnchor) out.push(compile(c, 'g', 300, t));
  if (t.boxedPriority >= 0) {
    out.push(compile(chain(true), 'g', t.boxedPriority, t));
    out.push(compile('(?<first_latexBoxed>\\\\boxed\\{[\\s\\S]+\\})', 'g', t.boxedPriority, t));
  }
  latexCache.set(key, out);
  return out;
}

const NUMBER_RE =
  '(?<!\\d)(?:(?<integer1>-?[1-9]\\d{0,2}(?:[ ,]\\d{3})+)(?<decimal1>\\.\\d+)?|(?<integer2>-?\\d+)(?<decimal2>[.,]\\d+)|(?<decimal3>\\.\\d+)|(?<integer3>-?\\d+))(?<percent>\\s*(?:%|[Pp]ercent|\\s*[Pp]ercentage|\\s*[Pp]ct))?';
const OPS = '\\+\\-\\*\\×\\/\\^\\(\\)\\÷';
const EXPR_CHARS = `[\\d\\.\\s${OPS}]`;
// Bounded repetition: an unbounded [chars]*[op][chars]+ backtracks quadratically on "1+1+...+1}" (measured: 6 s on 32 KB).
const EXPR_RE = `(?<expr>-?\\(?-?\\d${EXPR_CHARS}{0,64}[${OPS}]${EXPR_CHARS}{1,64}\\)?)`;
const CURRENCY = '$€£¥₹₽₪₩₫฿₡₢₣₤₥₦₧₨₭₮₯₰₱₲₳₴₵₶₷₸₺₻₼₾₿'.replace(/[$\\\]^-]/g, '\\$&');

let exprPats: Pat[] | null = null;
function exprPatterns(t: ExprTarget): Pat[] {
  if (exprPats && exprPats[0]!.target === t) return exprPats;
  const prefix = '(?:^|\\s|=)(?:\\*\\*)?';
  const suffix = '(?:\\*\\*)?(?:\\.|,|:|\\s|\\)|\\$|$)';
  const withExpr = `(?:${prefix}${EXPR_RE}${suffix})`;
  const withNum = `(?:${prefix}[${CURRENCY}]?${NUMBER_RE})`;
  const either = `(?:${withExpr}|${withNum})`;
  const ans = ci('answer');
  const out: Pat[] = [
    compile(`${ci('final answer is')}:?\\s*${either}\\.?\\s?I hope`, 'g', 0, t),
    compile(`${ci('final answer')}[\\s\\S]{0,100}?\\s+is:?${either}`, 'g', 50, t),
    compile(`${ans}:(?:[\\s\\S]{0,100}=\\s*|[\\s\\S]{0,50}?)${either}(?!\\s*=)`, 'g', 100, t),
    compile(`${ans}(?:[\\s\\S]{0,100}=\\s*|[\\s\\S]{0,50}?)${either}(?!\\s*=)`, 'g', 200, t),
  ];
  if (t.tryWithoutAnchor) {
    out.push(compile(withExpr, 'g', 300, t));
    out.push(compile(withNum, 'g', 300, t));
  }
  exprPats = out;
  return out;
}

/** Parses normalised LaTeX; on failure retries the part after the last '=' (a = b = c gives c). */
export function parseLatexAnswer(latex: string, budget: Budget): Node | null {
  try {
    return parseMath(latex, budget);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    if (!latex.includes(',') && !latex.includes(';')) {
      const parts = latex.split(/(?<![\\<!>])=/);
      if (parts.length > 2) {
        try {
          return parseMath(parts[parts.length - 1]!, budget);
        } catch (e2) {
          if (!(e2 instanceof ParseError)) throw e2;
        }
      }
    }
    return null;
  }
}

function extractLatex(groups: Record<string, string | undefined>, t: LatexTarget, budget: Budget): Extracted {
  const nodes: (Node | null)[] = [];
  const texts: string[] = [];
  for (const prefix of ['first', 'next1', 'next2', 'next3', 'next4', 'next5']) {
    let val: string | undefined;
    let name = '';
    for (const [k, v] of Object.entries(groups)) {
      if (v !== undefined && v !== '' && k.startsWith(`${prefix}_latex`)) {
        val = v;
        name = k;
        break;
      }
    }
    if (val === undefined) continue;
    const pct = !!groups[`${prefix}_percent`];
    const norm = normalizeLatex(val, name.endsWith('latexBoxed') ? { ...t.normalize, boxed: t.normalize.boxed === 'none' ? 'none' : 'last' } : t.normalize);
    texts.push(norm);
    let node = parseLatexAnswer(norm, budget);
    if (node && pct) node = { k: 'pct', a: node };
    nodes.push(node);
  }
  if (nodes.length === 0) return { node: null, text: '' };
  if (nodes.length > 1 && nodes.every((n) => n !== null)) {
    const items: Node[] = [];
    for (const n of nodes as Node[]) {
      if (n.k === 'set') items.push(...n.items);
      else items.push(n);
    }
    return { node: { k: 'set', items, braces: false }, text: texts.join(' and ') };
  }
  return { node: nodes[0] ?? null, text: texts[0] ?? '' };
}

function extractExpr(g: Record<string, string | undefined>, budget: Budget): Extracted {
  const integer = g.integer1 || g.integer2 || g.integer3 || '';
  const decimal = g.decimal1 || g.decimal2 || g.decimal3 || '';
  if (integer || decimal) {
    let int = integer.replace(/[, ]/g, '');
    const neg = int.startsWith('-');
    int = int.replace(/^-/, '').replace(/^0+/, '');
    if (int === '') int = '0';
    const numStr = `${neg ? '-' : ''}${int}${decimal.replace(',', '.')}`;
    let node: Node = neg ? { k: 'neg', a: { k: 'num', s: numStr.slice(1) } } : { k: 'num', s: numStr };
    if (g.percent) node = { k: 'pct', a: node };
    return { node, text: numStr };
  }
  const expr = g.expr ?? '';
  if (expr) {
    try {
      return { node: parseMath(expr.replace(/\n/g, ' ').replace(/\*\*/g, '^'), budget), text: expr };
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
    }
  }
  return { node: null, text: expr };
}

/**
 * Extracts answer candidates like Math-Verify's parse(): the first candidate that parses, followed
 * by the text of the first match tried (the string fallback), when `fallback` is on.
 */
export function extractAnswers(text: string, targets: Target[], budget: Budget, fallback = true): Extracted[] {
  if (text.length > WINDOW) text = text.slice(text.length - WINDOW);
  const pats: Pat[] = [];
  for (const t of targets) pats.push(...(t.type === 'latex' ? latexPatterns(t) : exprPatterns(t)));
  const prios = [...new Set(pats.map((p) => p.prio))].sort((a, b) => a - b);
  const fallbacks: string[] = [];
  const found: Extracted[] = [];
  for (const prio of prios) {
    const matches: { m: RegExpExecArray; t: Target; names: string[] }[] = [];
    for (const p of pats) {
      if (p.prio !== prio) continue;
      p.re.lastIndex = 0;
      for (let m = p.re.exec(text); m !== null; m = p.re.exec(text)) {
        budget.tick();
        matches.push({ m, t: p.target, names: p.names });
        if (m[0].length === 0) p.re.lastIndex++;
      }
    }
    matches.sort((a, b) => b.m.index + b.m[0].length - (a.m.index + a.m[0].length) || a.m.index - b.m.index);
    for (const { m, t, names } of matches) {
      if (budget.expired()) throw new BudgetExceeded('extraction');
      const g = groupsOf(m, names);
      const ex = t.type === 'latex' ? extractLatex(g, t, budget) : extractExpr(g, budget);
      if (ex.text) fallbacks.push(ex.text);
      if (ex.node) {
        found.push(ex);
        break;
      }
    }
    if (found.length > 0) break;
  }
  if (fallback && fallbacks.length > 0) found.push({ node: null, text: fallbacks[0]! });
  return found;
}
