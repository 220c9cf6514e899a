/**
 * Numbers for the math verifier: exact rationals over BigInt where the arithmetic stays exact
 * (integers, fractions, decimals, integer powers), IEEE doubles otherwise (radicals, pi, trig).
 * Exact results are size-capped so 2^2^2^2^2^2 degrades to an overflow instead of eating memory.
 */

/** An exact rational n/d (d > 0, gcd 1) or an approximate double. */
export type Num = { q: true; n: bigint; d: bigint } | { q: false; v: number };

/** Largest exact numerator/denominator kept, in bits; beyond it a result becomes a double. */
export const MAX_EXACT_BITS = 4096;

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function bitlen(x: bigint): number {
  return (x < 0n ? -x : x).toString(16).length * 4;
}

/** Builds a normalised rational; falls back to a double when it grows past MAX_EXACT_BITS. */
export function rat(n: bigint, d: bigint = 1n): Num {
  if (d === 0n) return { q: false, v: n === 0n ? NaN : n > 0n ? Infinity : -Infinity };
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d);
  if (g !== 1n) {
    n /= g;
    d /= g;
  }
  if (bitlen(n) > MAX_EXACT_BITS || bitlen(d) > MAX_EXACT_BITS) return { q: false, v: ratToFloat(n, d) };
  return { q: true, n, d };
}

export function flt(v: number): Num {
  return { q: false, v };
}

function ratToFloat(n: bigint, d: bigint): number {
  const nb = bitlen(n);
  const db = bitlen(d);
  if (nb <= 1000 && db <= 1000) return Number(n) / Number(d);
  // Scale numerator and denominator separately into double range, then restore the exponent.
  const sn = Math.max(0, nb - 1000);
  const sd = Math.max(0, db - 1000);
  const nn = Number(n >> BigInt(sn));
  const dd = Number(d >> BigInt(sd));
  return (nn / dd) * 2 ** (sn - sd);
}

/** The value as a double. */
export function toFloat(a: Num): number {
  return a.q ? ratToFloat(a.n, a.d) : a.v;
}

/** Parses a plain decimal literal like "-12.5" or "1e3" exactly. */
export function parseDecimal(s: string): Num | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
  const frac = m[3] ?? '';
  let n = BigInt((m[2] || '0') + frac);
  let d = 10n ** BigInt(frac.length);
  const e = m[4] ? Number(m[4]) : 0;
  if (e > 0) n *= 10n ** BigInt(e);
  else if (e < 0) d *= 10n ** BigInt(-e);
  if (m[1] === '-') n = -n;
  return rat(n, d);
}

export function add(a: Num, b: Num): Num {
  if (a.q && b.q) return rat(a.n * b.d + b.n * a.d, a.d * b.d);
  return flt(toFloat(a) + toFloat(b));
}
export function neg(a: Num): Num {
  return a.q ? { q: true, n: -a.n, d: a.d } : flt(-a.v);
}
export function sub(a: Num, b: Num): Num {
  return add(a, neg(b));
}
export function mul(a: Num, b: Num): Num {
  if (a.q && b.q) return rat(a.n * b.n, a.d * b.d);
  return flt(toFloat(a) * toFloat(b));
}
export function div(a: Num, b: Num): Num {
  if (a.q && b.q) {
    if (b.n === 0n) return flt(NaN);
    return rat(a.n * b.d, a.d * b.n);
  }
  const bv = toFloat(b);
  return flt(bv === 0 ? NaN : toFloat(a) / bv);
}

function isqrtExact(x: bigint): bigint | null {
  if (x < 0n) return null;
  if (x < 2n) return x;
  let r = BigInt(Math.floor(Math.sqrt(Number(x))));
  // Newton refinement for values beyond double precision.
  for (let i = 0; i < 200; i++) {
    const nr = (r + x / r) >> 1n;
    if (nr >= r && r * r <= x) break;
    r = nr;
  }
  while (r * r > x) r -= 1n;
  while ((r + 1n) * (r + 1n) <= x) r += 1n;
  return r * r === x ? r : null;
}

/** a^b: exact for integer b (result size capped) and for perfect square roots; a double otherwise. */
export function pow(a: Num, b: Num): Num {
  if (a.q && b.q && b.d === 1n) {
    const e = b.n;
    const absE = e < 0n ? -e : e;
    if (a.n === 0n) return e < 0n ? flt(NaN) : e === 0n ? rat(1n) : rat(0n);
    if (a.d === 1n && (a.n === 1n || a.n === -1n)) return rat(absE % 2n === 0n ? 1n : a.n);
    const bits = Math.max(bitlen(a.n), bitlen(a.d));
    if (absE * BigInt(bits) <= BigInt(MAX_EXACT_BITS)) {
      const n = a.n ** absE;
      const d = a.d ** absE;
      return e < 0n ? rat(d, n) : rat(n, d);
    }
    const v = Math.pow(toFloat(a), Number(e));
    return flt(v);
  }
  if (a.q && b.q && b.d === 2n && a.n >= 0n) {
    const rn = isqrtExact(a.n);
    const rd = isqrtExact(a.d);
    if (rn !== null && rd !== null) return pow(rat(rn, rd), rat(b.n));
  }
  const av = toFloat(a);
  const bv = toFloat(b);
  // Odd roots of negatives are real: (-8)^(1/3) = -2.
  if (av < 0 && b.q && b.d % 2n === 1n) {
    const r = Math.pow(-av, bv);
    return flt(b.n % 2n === 0n ? r : -r);
  }
  return flt(Math.pow(av, bv));
}

/** Whether a value is exactly zero (rationals) or within tol of it (doubles). */
export function isZero(a: Num, tol = 0): boolean {
  return a.q ? a.n === 0n : Math.abs(a.v) <= tol;
}

/** Rounds to `digits` decimals (half away from zero), exactly for rationals; returns a string key. */
export function roundKey(a: Num, digits: number): string {
  if (a.q) {
    const scale = 10n ** BigInt(digits);
    const num = a.n * scale;
    const neg = num < 0n;
    const absn = neg ? -num : num;
    let q = absn / a.d;
    const r = absn % a.d;
    if (2n * r >= a.d) q += 1n;
    return (neg && q !== 0n ? '-' : '') + q.toString();
  }
  if (!Number.isFinite(a.v)) return String(a.v);
  const scaled = a.v * 10 ** digits;
  const r = Math.sign(scaled) * Math.round(Math.abs(scaled) + 1e-9);
  return (Object.is(r, -0) ? 0 : r).toString();
}

/** Numeric equality: exact for two rationals, relative tolerance otherwise. */
export function numEq(a: Num, b: Num, relTol = 1e-9): boolean {
  if (a.q && b.q) return a.n === b.n && a.d === b.d;
  const x = toFloat(a);
  const y = toFloat(b);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= relTol * Math.max(1, Math.abs(x), Math.abs(y));
}

/** Small exact factorial; a double (possibly Infinity) past n = 500. */
export function factorial(a: Num): Num {
  if (!a.q || a.d !== 1n || a.n < 0n) return flt(NaN);
  if (a.n > 500n) return flt(Infinity);
  let r = 1n;
  for (let i = 2n; i <= a.n; i++) r *= i;
  return rat(r);
}

export function numToString(a: Num): string {
  if (a.q) return a.d === 1n ? a.n.toString() : `${a.n}/${a.d}`;
  return String(a.v);
}
