/** Resolves and validates stage parameters against their specs: unknown keys and bad types are rejected. */
import type { ParamSpec, ParamSpecs } from './stage.js';
import { usageError } from '../util/errors.js';

/** Defaults filled in, values coerced from CLI strings where unambiguous, everything checked. */
export function resolveParams(
  stage: string,
  specs: ParamSpecs,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    if (!(key in specs)) {
      const known = Object.keys(specs).join(', ') || '(none)';
      throw usageError('pipeline', `stage ${stage}: unknown parameter "${key}". Known parameters: ${known}.`);
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    const raw = given[key] === undefined ? spec.default : given[key];
    if (raw === undefined) {
      throw usageError('pipeline', `stage ${stage}: parameter "${key}" is required (${spec.describe}).`);
    }
    out[key] = coerce(stage, key, spec, raw);
  }
  return out;
}

function coerce(stage: string, key: string, spec: ParamSpec, raw: unknown): unknown {
  const bad = (what: string) =>
    usageError('pipeline', `stage ${stage}: parameter "${key}" must be ${what}, got ${JSON.stringify(raw)}.`);
  switch (spec.type) {
    case 'integer': {
      const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof value !== 'number' || !Number.isInteger(value)) throw bad('an integer');
      return value;
    }
    case 'number': {
      const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof value !== 'number' || Number.isNaN(value)) throw bad('a number');
      return value;
    }
    case 'boolean': {
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      if (typeof raw !== 'boolean') throw bad('true or false');
      return raw;
    }
    case 'string': {
      if (typeof raw !== 'string') throw bad('a string');
      if (spec.choices && !spec.choices.includes(raw)) throw bad(`one of ${spec.choices.join(', ')}`);
      return raw;
    }
    case 'string[]': {
      const list = typeof raw === 'string' ? [raw] : raw;
      if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) throw bad('a list of strings');
      return list;
    }
  }
}

/** The parameters that can change a stage's output, for its fingerprint. */
export function fingerprintParams(specs: ParamSpecs, params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) if (spec.affectsResult !== false) out[key] = params[key];
  return out;
}
