/**
 * Case files for `check-answers`: JSON lines {id, gold, pred, config?, expected?}. A row's config
 * may be our MathConfig, or the test-suite configs recorded in ../shared/data/verify (Math-Verify's
 * compare_strings / sympy_expr_eq / parse+verify, NeMo-Skills' math_equal, MATH's is_equiv), which
 * map onto the matching policy.
 */

import { readFileSync } from 'node:fs';
import { VrdataError } from '../util/errors.js';
import type { MathConfig } from './math/index.js';

export interface CaseRow {
  id: string;
  gold: string | null;
  pred: string | null;
  config: MathConfig;
  /** true for the recorded test-suite configs: gold is text to extract from (Math-Verify compare_strings), not a bare answer. */
  goldIsText: boolean;
  expected?: boolean;
}

type Raw = Record<string, unknown>;

function str(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  return JSON.stringify(v);
}

/** Maps a row's recorded config onto a MathConfig (unknown keys of our own config are rejected). */
export function caseConfig(raw: Raw | undefined): { config: MathConfig; goldAs?: string | null; predAs?: string | null } {
  if (!raw) return { config: {} };
  const api = typeof raw.api === 'string' ? raw.api : '';
  if (api === 'compare_strings') {
    return {
      config: {
        policy: 'mathverify',
        matchTypes: (raw.match_types as ('latex' | 'expr')[] | undefined) ?? ['latex', 'expr'],
        boxedPriority: (raw.latex_boxed_match_priority as number | undefined) ?? 0,
        floatRounding: (raw.float_rounding as number | undefined) ?? 6,
        strict: (raw.strict as boolean | undefined) ?? true,
        allowSetRelation: (raw.allow_set_relation_comp as boolean | undefined) ?? false,
      },
    };
  }
  if (api === 'grader.sympy_expr_eq') return { config: { policy: 'mathverify', input: 'sympy', floatRounding: (raw.float_rounding as number | undefined) ?? 6 } };
  if (api.startsWith('parse+verify')) return { config: { policy: 'mathverify', matchTypes: ['latex', 'expr'], boxedPriority: 50 } };
  if (api.includes('math_equal')) {
    return { config: { policy: 'nemo' }, goldAs: raw.gold_as_str as string | undefined, predAs: raw.pred_as_str === undefined ? undefined : (raw.pred_as_str as string | null) };
  }
  if (api.includes('is_equiv')) return { config: { policy: 'hendrycks' } };
  const known = new Set(['policy', 'matchTypes', 'boxedPriority', 'floatRounding', 'strict', 'allowSetRelation', 'percent', 'tuples', 'input']);
  for (const k of Object.keys(raw)) if (!known.has(k)) throw new VrdataError('verify', `unknown config key '${k}'; known keys: ${[...known].join(', ')}`);
  return { config: raw as MathConfig };
}

/** Reads a case file; a malformed line is an error naming file and line. */
export function readCases(path: string): CaseRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new VrdataError('verify', `cannot read ${path}: ${(e as Error).message}; check the path`);
  }
  const rows: CaseRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let raw: Raw;
    try {
      raw = JSON.parse(line) as Raw;
    } catch (e) {
      throw new VrdataError('verify', `${path}:${i + 1}: not JSON (${(e as Error).message}); each line must be one JSON object`);
    }
    if (!('gold' in raw) || !('pred' in raw)) throw new VrdataError('verify', `${path}:${i + 1}: row needs "gold" and "pred"`);
    const rawConfig = raw.config as Raw | undefined;
    const { config, goldAs, predAs } = caseConfig(rawConfig);
    const row: CaseRow = {
      id: raw.id === undefined ? String(i + 1) : String(raw.id),
      gold: goldAs !== undefined ? goldAs : str(raw.gold),
      pred: predAs !== undefined ? predAs : str(raw.pred),
      config,
      goldIsText: typeof rawConfig?.api === 'string',
    };
    if (typeof raw.expected === 'boolean') row.expected = raw.expected;
    rows.push(row);
  });
  return rows;
}
