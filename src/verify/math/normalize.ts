/**
 * LaTeX clean-up before parsing, in the spirit of Math-Verify's normalisation (latex2sympy2_extended
 * math_normalization.py, read for behaviour, written anew): \boxed extraction, \left/\right, \dfrac,
 * text/units, percent words, thousands separators, malformed \frac12 and \sqrt3.
 */

/** Which clean-ups to apply; the defaults are Math-Verify's LatexExtractionConfig defaults. */
export interface NormalizeOptions {
  basicLatex: boolean;
  units: boolean;
  malformedOperators: boolean;
  nits: boolean;
  boxed: 'all' | 'last' | 'none';
}

export const DEFAULT_NORMALIZE: NormalizeOptions = { basicLatex: true, units: true, malformedOperators: true, nits: true, boxed: 'all' };

const UNIT_WORDS = [
  'integer', 'point', 'feet', 'sue', 'digit', 'pound', 'meal', 'edge', 'student', 'children ticket', 'multiple', 'east', 'degree', 'mph', 'kmph',
  'ft', 'm square', ' m east', 'sq m', 'deg', 'mile', 'q .', 'monkey', 'prime', 'ratio', 'profit of rs', 'rd', 'o', 'gm', 'p . m', 'lb', 'tile',
  'per', 'dm', 'lt', 'gain', 'ab', 'way', 'west', 'a .', 'b .', 'c .', 'd .', 'e .', 'f .', 'g .', 'h .', 't', 'h', 'no change', 'men', 'soldier',
  'pie', 'bc', 'excess', 'st', 'inches', 'noon', 'cent', 'by', 'gal', 'kmh', 'c', 'acre', 'rise', 'a . m', 'th', 'π r 2', 'sq', 'mark', 'l', 'toy',
  'coin', 'sq . m', 'gallon', '° f', 'profit', 'minw', 'yr', 'women', 'am', 'pm', 'hr', 'cu cm', 'square', 'are', 'rupee', 'rounds', 'cubic',
  'cc', 'mtr', 's', 'ohm', 'number', 'day', 'hour', 'minute', 'min', 'second', 'man', 'woman', 'sec', 'cube', 'mt', 'sq inch', 'mp', 'hectare',
  'more', 'unit', 'cu . m', 'cm 2', 'rs .', 'rs', 'kg', 'g', 'month', 'km', 'm', 'cm', 'mm', 'apple', 'liter', 'loss', 'yard', 'pure', 'year',
  'increase', 'decrease', 'd', 'less', 'Surface', 'litre', 'pi sq m', 's .', 'metre', 'meter', 'inch',
];
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const UNITS_RE = new RegExp(`(\\d|\\}|\\s)\\s*(?:(?:${UNIT_WORDS.map(escapeRe).join('|')})(?:s|es)?)\\s*$`);
const UNIT_TEXT_RE = /(\\(?:text|mbox)\{[^{}]*?\})(\^\d|\{\^\d\})?$/;
const LEFT_RE = /\\m?left(\\\{|\{|\\\||\||\[|\(|\\lgroup|\\lbrace|\\lbrack|\\vert|\\lvert|\\lceil|\\lfloor|\\langle|\.)/g;
const RIGHT_RE = /\\m?right(\\\}|\}|\\\||\||\]|\)|\\rgroup|\\rbrace|\\rbrack|\\vert|\\rvert|\\rceil|\\rfloor|\\rangle|\.)/g;
const REMOVE_RE = /\\mathrm\{th\}|\\!\s*|\\text\s*\{\s*\}|\\\$|\$|(?<!\\)["']|\\displaystyle/g;
const REPLACE: [RegExp, string][] = [
  [/\\math(?:rm|it|bf)\b/g, '\\text'],
  [/\\text(?:normal|bf|it|rm)\b/g, '\\text'],
  [/\\(?:d|t|c)frac/g, '\\frac'],
  [/\s\.(?=\d)/g, ' 0.'],
  [/\{\.(?=\d)/g, '{0.'],
  [/\\?~=/g, '\\approx'],
  [/\s*\{\s*,\s*\}/g, ','],
  [/,?\s*\\text\{\s*(?:and|or)\s*\}/g, ','],
  [/(?<![a-zA-Z\\])(?:,?\s*(?:and|or))(?![a-zA-Z])/g, ','],
  [/(?<!\\)\\\s/g, ' '],
  [/infinity/g, '\\infty'],
  [/,?\\ldots|,?\\cdots|,?\\dots/g, ' '],
  [/\\text\{percentage\}|\\text\{percent\}|\\text\{pct\}/g, '\\%'],
  [/\s*\bpercentage\b/g, '\\%'],
  [/\s*\bpercent\b/g, '\\%'],
  [/\s*\bpct\b/g, '\\%'],
  [/(?<!\\)\binf\b(?!inity)/g, '\\infty'],
  [/ sqrt/g, '\\sqrt'],
];

/** Content of the last \boxed{...}/\fbox{...}; with mode 'last', earlier boxes joined by a separator are kept too. */
export function extractBoxed(text: string, mode: 'last' | 'all'): string {
  const results: string[] = [];
  let maxPos = text.length;
  let current = text.length;
  let lastStart: number | null = null;
  for (let guard = 0; guard < 1000; guard++) {
    const bi = text.lastIndexOf('\\boxed', current - 1);
    const fi = text.lastIndexOf('\\fbox', current - 1);
    if (bi < 0 && fi < 0) break;
    const start = Math.max(bi, fi);
    let k = start + (bi > fi ? 6 : 5);
    while (k < maxPos && /\s/.test(text[k]!)) k++;
    if (k >= maxPos) break;
    if (text[k] !== '{') {
      if (results.length === 0) results.push(text.slice(k));
      break;
    }
    let depth = 1;
    let end = -1;
    for (let i = k + 1; i < maxPos; i++) {
      const c = text[i];
      if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        end = i;
        break;
      }
    }
    if (end < 0) {
      if (results.length === 0) results.push(text.slice(k + 1));
      break;
    }
    const content = text.slice(k + 1, end).trim();
    if (mode === 'last' && lastStart !== null) {
      const between = text.slice(end + 1, lastStart);
      const prev = results[results.length - 1] ?? '';
      const ok = between.length < 10 || (content !== prev && between.length < 70 && /\b(?:and|or)\b|,|;/.test(between));
      if (!ok) break;
    }
    if (results.length === 0 || results[results.length - 1] !== content) results.push(content);
    lastStart = start;
    maxPos = start;
    current = start;
  }
  if (results.length === 0) return text;
  return results.reverse().join(',');
}

function fixFracs(text: string): string {
  const parts = text.split('\\frac');
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    const sub = parts[i]!.replace(/^\s+/, '');
    out += '\\frac';
    if (sub.startsWith('{')) out += sub;
    else if (sub.length < 2) return text;
    else {
      const a = sub[0]!;
      const b = sub[1]!;
      if (b !== '{') out += `{${a}}{${b}}${sub.slice(2)}`;
      else out += `{${a}}${sub.slice(1)}`;
    }
  }
  return out;
}

function fixSqrt(text: string): string {
  if (!text.includes('\\sqrt')) return text;
  const parts = text.split('\\sqrt');
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    const sub = parts[i]!.replace(/^\s+/, '');
    if (sub.length > 0 && sub[0] !== '{' && sub[0] !== '[') out += `\\sqrt{${sub[0]}}${sub.slice(1)}`;
    else out += `\\sqrt${sub}`;
  }
  return out;
}

function fixMalformed(text: string): string {
  return text
    .replace(/\^\s?\(([^()]*?)\)/g, '^{$1}')
    .replace(/(?<!\\)sqrt\s?\(([^()]*?)\)/g, '\\sqrt{$1}')
    .replace(/\\frac\s?(\d)\s?(\d+)/g, '\\frac{$1}{$2}')
    .replace(/\\log_\s?(\d)\s?(\d+)/g, '\\log_{$1}{$2}')
    .replace(/\\frac\s?\{([^{}]*?)\}\s?(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac\s?(\d)\s?\{([^{}]*?)\}/g, '\\frac{$1}{$2}')
    .replace(/\\sqrt\s?(\d)/g, '\\sqrt{$1}');
}

/** Normalises one extracted LaTeX answer (a few microseconds for typical answers). */
export function normalizeLatex(text: string, o: NormalizeOptions = DEFAULT_NORMALIZE): string {
  if (o.boxed !== 'none') text = extractBoxed(text, o.boxed);
  if (o.basicLatex) {
    // Doubled backslashes (\\frac from JSON-escaped text) first, so \\left( is seen as \left(.
    if (!text.includes('matrix')) text = text.replace(/\\\\(?=[a-zA-Z])/g, '\\');
    text = text.replace(/\\mathrm\{T\}/g, 'T').replace(/\\mathrm\{d\}/g, 'd').replace(/\{\\rm d\}/g, 'd');
    text = text.replace(/\\left\[\\begin\{matrix\}/g, '\\begin{bmatrix}').replace(/\\end\{matrix\}\\right\]/g, '\\end{bmatrix}');
    text = text.replace(LEFT_RE, (_m, d: string) => (d === '.' ? '' : d)).replace(RIGHT_RE, (_m, d: string) => (d === '.' ? '' : d));
    text = text.replace(REMOVE_RE, '');
    for (const [re, rep] of REPLACE) text = text.replace(re, rep);
    text = text.replace(/\n/g, ' ').replace(/\t/g, ' ');
    if (!text.includes('matrix')) text = text.replace(/\\\\(?=[a-zA-Z])/g, '\\');
  }
  if (o.units) {
    let t = text.replace(UNIT_TEXT_RE, '').trim();
    if (t !== '' && t !== text) text = t;
    for (let i = 0; i < 2; i++) {
      t = text.replace(UNITS_RE, '$1');
      if (t !== '' && t !== text) text = t;
    }
  }
  if (o.nits) {
    if (text.startsWith('.')) text = '0' + text;
  }
  if (o.malformedOperators) {
    text = fixMalformed(text);
    text = fixSqrt(text);
    text = fixFracs(text);
    const m = /^(-?\d+)\/(\d+)$/.exec(text);
    if (m) text = `\\frac{${m[1]}}{${m[2]}}`;
  }
  return text.trim();
}
