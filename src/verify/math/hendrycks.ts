/**
 * The MATH benchmark's is_equiv (hendrycks/math modeling/math_equivalence.py): string equality
 * after a fixed clean-up. Reimplemented for the 'hendrycks' policy, including where the original
 * gives up (an exception there means comparing the raw strings).
 */

class Fallback extends Error {}

function fixFracs(s: string): string {
  const subs = s.split('\\frac');
  let out = subs[0]!;
  for (const sub of subs.slice(1)) {
    out += '\\frac';
    if (sub.startsWith('{')) out += sub;
    else {
      if (sub.length < 2) return s;
      const a = sub[0]!;
      const b = sub[1]!;
      if (b !== '{') out += `{${a}}{${b}}${sub.slice(2)}`;
      else out += `{${a}}${b}${sub.slice(2)}`;
    }
  }
  return out;
}

function fixSlash(s: string): string {
  const parts = s.split('/');
  if (parts.length !== 2) return s;
  const [a, b] = parts as [string, string];
  if (!/^\s*[+-]?\d+\s*$/.test(a) || !/^\s*[+-]?\d+\s*$/.test(b)) return s;
  const ai = BigInt(a.trim());
  const bi = BigInt(b.trim());
  if (s !== `${ai}/${bi}`) return s;
  return `\\frac{${ai}}{${bi}}`;
}

function removeRightUnits(s: string): string {
  if (s.includes('\\text{ ')) {
    const parts = s.split('\\text{ ');
    if (parts.length !== 2) throw new Fallback();
    return parts[0]!;
  }
  return s;
}

function fixSqrt(s: string): string {
  if (!s.includes('\\sqrt')) return s;
  const parts = s.split('\\sqrt');
  let out = parts[0]!;
  for (const p of parts.slice(1)) {
    if (p.length === 0) throw new Fallback();
    out += p[0] !== '{' ? `\\sqrt{${p[0]}}${p.slice(1)}` : `\\sqrt${p}`;
  }
  return out;
}

/** MATH's strip_string; throws Fallback where the original raises. */
function strip(s: string): string {
  s = s.replace(/\n/g, '').replace(/\\!/g, '').replace(/\\\\/g, '\\');
  s = s.replace(/tfrac/g, 'frac').replace(/dfrac/g, 'frac').replace(/\\left/g, '').replace(/\\right/g, '');
  s = s.replace(/\^\{\\circ\}/g, '').replace(/\^\\circ/g, '').replace(/\\\$/g, '');
  s = removeRightUnits(s);
  s = s.replace(/\\%/g, '').replace(/ \./g, ' 0.').replace(/\{\./g, '{0.');
  if (s.length === 0) return s;
  if (s[0] === '.') s = '0' + s;
  const eq = s.split('=');
  if (eq.length === 2 && eq[0]!.length <= 2) s = eq[1]!;
  s = fixSqrt(s);
  s = s.replace(/ /g, '');
  s = fixFracs(s);
  if (s === '0.5') s = '\\frac{1}{2}';
  return fixSlash(s);
}

/** MATH's is_equiv: equal after strip_string (raw equality where strip_string fails). */
export function hendrycksEquiv(a: string | null, b: string | null): boolean {
  if (a === null && b === null) return true;
  if (a === null || b === null) return false;
  try {
    return strip(a) === strip(b);
  } catch (e) {
    if (e instanceof Fallback) return a === b;
    throw e;
  }
}

/** The content of the last \boxed{...} (MATH's last_boxed_only_string + remove_boxed), or null. */
export function lastBoxed(s: string): string | null {
  let idx = s.lastIndexOf('\\boxed');
  if (idx < 0) idx = s.lastIndexOf('\\fbox');
  if (idx < 0) return null;
  if (s.startsWith('\\boxed ', idx)) return s.slice(idx + 7).split('$')[0]!.trim();
  let depth = 0;
  for (let i = idx; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}') {
      depth--;
      if (depth === 0) {
        const inner = s.slice(idx, i + 1);
        const open = inner.indexOf('{');
        return inner.slice(open + 1, -1);
      }
    }
  }
  return null;
}
