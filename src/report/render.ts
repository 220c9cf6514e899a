/**
 * Draws a ReportData as one self-contained HTML page: inline CSS and SVG only, no script and
 * no network (a Content-Security-Policy forbids any fetch). A plot whose data is missing is
 * replaced by a note saying which table or stage would provide it.
 */
import type { EvalSummary } from '../eval/metrics.js';
import { bars, esc, fmt, hbars, histogram, PALETTE } from './svg.js';
import type { ReportData } from './types.js';

/** The ids of the plots, in page order; every page has one figure per id (drawn or a note). */
export const PLOT_IDS = ['rho', 'acc', 'trace-tokens', 'eligible', 'selected', 'eval', 'timings'] as const;
export type PlotId = (typeof PLOT_IDS)[number];

interface Plot {
  id: PlotId;
  title: string;
  caption: string;
  /** The SVG, or undefined with `missing` saying why. */
  svg?: string;
  missing?: string;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
header{background:#1d2a3a;color:#fff;padding:18px 28px}header h1{margin:0;font-size:21px}header p{margin:4px 0 0;color:#c5d0dd}
main{padding:18px 28px;max-width:1240px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:16px}
.card{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:19px}.card span{color:#5b6675;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
figure.plot{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:0;padding:10px 12px}
figure.plot h2{font-size:15px;margin:0 0 2px}figure.plot figcaption{color:#5b6675;font-size:12px;margin-bottom:6px}
figure.plot svg{width:100%;height:auto;display:block}
.note{background:#fff8e5;border:1px solid #f0d98c;border-radius:4px;padding:10px;color:#6b5510}
svg .axis{stroke:#8a94a2;stroke-width:1}svg .tick{font-size:11px;fill:#4a5462}svg .label{font-size:12px;fill:#2b333d}
svg .err{stroke:#1d232b;stroke-width:1.4;fill:none}svg rect.mark:hover{opacity:.75}
table{border-collapse:collapse;background:#fff;margin:8px 0 18px;font-size:13px}
th,td{border:1px solid #dde2e8;padding:4px 9px;text-align:right}th{background:#eef1f5}td:first-child,th:first-child{text-align:left}
h2.section{font-size:17px;margin:22px 0 6px}pre{background:#fff;border:1px solid #dde2e8;padding:10px;overflow:auto;font-size:12px}
`;

function pct(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a';
}

function card(value: string, label: string): string {
  return `<div class="card"><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
}

function rowsOf(d: ReportData, table: string): number | undefined {
  return d.tables.find((t) => t.table === table)?.rows;
}

function cards(d: ReportData): string {
  const out: string[] = [];
  const add = (table: string, label: string) => {
    const n = rowsOf(d, table);
    if (n !== undefined) out.push(card(fmt(n), label));
  };
  add('samples', 'questions');
  add('traces', 'traces (q_phi)');
  add('rollouts', 'rollouts (pi_theta0)');
  if (d.verdicts) out.push(card(pct(d.verdicts.total ? d.verdicts.correct / d.verdicts.total : Number.NaN), `rollouts correct (${fmt(d.verdicts.total)})`));
  if (d.weights) {
    out.push(card(fmt(d.weights.eligible), 'eligible traces'));
    out.push(card(fmt(d.weights.selected), 'selected traces'));
  }
  add('mix', 'rows in the mix set');
  add('weighted', 'rows in the weighted set');
  for (const e of d.evals) out.push(card(pct(e.report.overall.accuracy), `accuracy, ${e.table}`));
  return out.length ? `<div class="cards">${out.join('')}</div>` : '';
}

function plots(d: ReportData): Plot[] {
  const w = d.weights;
  const noWeights = 'No weights table in this run: the weigh stage writes it.';
  const evalBars = d.evals.map((e, i) => ({
    label: e.table,
    value: e.report.overall.accuracy,
    error: e.report.overall.stderr,
    color: PALETTE[i % PALETTE.length],
    title: `${e.table}: ${pct(e.report.overall.accuracy)} ± ${pct(e.report.overall.stderr)} (s.e.) over ${e.report.overall.questions} questions, ${e.report.overall.samples} responses`,
  }));
  const timed = d.tables.filter((t) => t.partsDone > 0);
  return [
    {
      id: 'rho',
      title: 'Normalised weights rho~',
      caption: 'rho~_k = exp(log rho_k - logsumexp_j log rho_j) over the eligible traces of each question.',
      ...(w === undefined ? { missing: noWeights } : w.rho.length === 0 ? { missing: 'The weights table has no eligible trace.' } : { svg: histogram([{ label: 'eligible traces', values: w.rho }], { xLabel: 'rho~', domain: [0, 1] }) }),
    },
    {
      id: 'acc',
      title: 'Rollout accuracy per trace',
      caption: 'acc_k: the fraction of the N rollouts from trace k that the verifier accepts.',
      ...(w === undefined ? { missing: noWeights } : w.acc.length === 0 ? { missing: 'No trace has an accuracy (no question had a verifier).' } : { svg: histogram([{ label: 'traces', values: w.acc }], { xLabel: 'acc', maxCategories: 17 }) }),
    },
    {
      id: 'trace-tokens',
      title: 'Trace lengths',
      caption: 'Tokens q_phi generated per trace (traces.tokens).',
      ...(d.traceTokens === undefined ? { missing: 'No traces table in this run: the sample stage writes it.' } : d.traceTokens.length === 0 ? { missing: 'The traces table is empty.' } : { svg: histogram([{ label: 'traces', values: d.traceTokens }], { xLabel: 'tokens' }) }),
    },
    {
      id: 'eligible',
      title: 'Eligible traces',
      caption: 'A trace is eligible when its thought is shorter than max_think_tokens; one eligible trace per question is selected.',
      ...(w === undefined
        ? { missing: noWeights }
        : { svg: bars([{ label: 'eligible', value: w.eligible }, { label: 'not eligible', value: w.ineligible }, { label: 'selected', value: w.selected }], { xLabel: `${fmt(w.questions)} questions`, yLabel: 'traces' }) }),
    },
    {
      id: 'selected',
      title: 'Selected traces vs original responses',
      caption: 'Thought length in characters: the trace picked per question (largest log rho) against the original thought.',
      ...(d.selectedVsOriginal === undefined || (d.selectedVsOriginal.selected.length === 0 && d.selectedVsOriginal.original.length === 0)
        ? { missing: 'Needs the samples, traces and weights tables.' }
        : { svg: histogram([{ label: 'selected traces', values: d.selectedVsOriginal.selected }, { label: 'original thoughts', values: d.selectedVsOriginal.original }], { xLabel: 'thought length (characters)' }) }),
    },
    {
      id: 'eval',
      title: 'Accuracy before and after training',
      caption: 'Mean per-question accuracy on each eval table, with one standard error over questions.',
      ...(d.evals.length === 0 ? { missing: 'No eval table in this run (eval, eval_before, eval_after, ...): the eval stage writes them.' } : { svg: bars(evalBars, { xLabel: 'eval table', yLabel: 'accuracy', yMax: 1 }) }),
    },
    {
      id: 'timings',
      title: 'Time per table',
      caption: 'Seconds of work recorded in the part manifests (parts run in parallel add up).',
      ...(timed.length === 0 ? { missing: 'No manifests found: nothing in this run has finished yet.' } : { svg: hbars(timed.map((t) => ({ label: t.table, value: t.seconds, title: `${t.table}: ${fmt(t.seconds)} s, ${fmt(t.rows)} rows` })), { xLabel: 'seconds' }) }),
    },
  ];
}

function figure(p: Plot): string {
  const body = p.svg ?? `<p class="note">${esc(p.missing ?? 'No data.')}</p>`;
  return `<figure class="plot${p.svg ? '' : ' missing'}" data-plot="${p.id}"><h2>${esc(p.title)}</h2><figcaption>${esc(p.caption)}</figcaption>${body}</figure>`;
}

function evalTable(d: ReportData): string {
  if (d.evals.length === 0) return '';
  const ks = [...new Set(d.evals.flatMap((e) => Object.keys(e.report.overall.passAtK).map(Number)))].filter((k) => k > 1).sort((a, b) => a - b);
  const row = (table: string, source: string, s: EvalSummary) =>
    `<tr><td>${esc(table)}</td><td>${esc(source)}</td><td>${fmt(s.questions)}</td><td>${fmt(s.samples)}</td><td>${pct(s.accuracy)} ± ${pct(s.stderr)}</td>${ks
      .map((k) => `<td>${s.passAtK[k] == null ? '–' : pct(s.passAtK[k] as number)}</td>`)
      .join('')}</tr>`;
  const body = d.evals
    .flatMap((e) => [row(e.table, 'all', e.report.overall), ...Object.entries(e.report.bySource).map(([s, v]) => row(e.table, s, v))])
    .join('');
  return `<h2 class="section">Evaluation</h2><table class="eval"><tr><th>table</th><th>source</th><th>questions</th><th>responses</th><th>accuracy ± s.e.</th>${ks
    .map((k) => `<th>pass@${k}</th>`)
    .join('')}</tr>${body}</table>`;
}

/** Accuracy per round of a variational-EM run: one row per round, one column per eval table. */
function roundsTable(d: ReportData): string {
  if (!d.rounds) return '';
  const tables = [...new Set(d.rounds.flatMap((r) => r.evals.map((e) => e.table)))];
  const body = d.rounds
    .map((r) => `<tr><td>${r.round}</td>${tables.map((t) => {
      const e = r.evals.find((x) => x.table === t);
      return `<td>${e ? `${pct(e.accuracy)} ± ${pct(e.stderr)} (${fmt(e.questions)})` : '–'}</td>`;
    }).join('')}</tr>`)
    .join('');
  const bars_ = d.rounds.flatMap((r) => r.evals.map((e, i) => ({ label: `r${r.round} ${e.table}`, value: e.accuracy, error: e.stderr, color: PALETTE[i % PALETTE.length] })));
  return `<h2 class="section">Accuracy per round</h2><table class="rounds"><tr><th>round</th>${tables.map((t) => `<th>${esc(t)}</th>`).join('')}</tr>${body}</table>` +
    `<figure class="plot" data-plot="rounds"><h2>Held-out accuracy per round</h2><figcaption>accuracy ± standard error of every eval table, round by round (round r+1 starts from round r's pi_theta)</figcaption>${bars(bars_, { xLabel: 'round and eval table', yLabel: 'accuracy', yMax: 1 })}</figure>`;
}

function tablesTable(d: ReportData): string {
  if (d.tables.length === 0) return '';
  const body = d.tables
    .map(
      (t) =>
        `<tr><td>${esc(t.table)}</td><td>${esc(t.stage ?? '')}</td><td>${t.partsDone}/${t.parts}</td><td>${fmt(t.rows)}</td><td>${fmt(t.seconds)}</td><td>${t.wallSeconds === undefined ? '' : fmt(t.wallSeconds)}</td><td>${esc(t.startedAt ?? '')}</td></tr>`,
    )
    .join('');
  return `<h2 class="section">Tables</h2><table class="tables"><tr><th>table</th><th>stage</th><th>parts done</th><th>rows</th><th>seconds</th><th>wall seconds</th><th>started</th></tr>${body}</table>`;
}

/** The whole page. Deterministic for a given data object (generatedAt is part of the data). */
export function renderReport(d: ReportData): string {
  const notes = d.notes.length ? `<h2 class="section">Notes</h2>${d.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('')}` : '';
  const yaml = d.pipelineYaml ? `<h2 class="section">Pipeline</h2><details><summary>pipeline.yaml</summary><pre>${esc(d.pipelineYaml)}</pre></details>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vrdata report: ${esc(d.run)}</title><style>${CSS}</style></head>
<body><header><h1>vrdata run: ${esc(d.run)}</h1><p>${esc(d.runDir)} · report made ${esc(d.generatedAt)}</p></header>
<main>${cards(d)}<div class="grid">${plots(d).map(figure).join('\n')}</div>
${evalTable(d)}${roundsTable(d)}${tablesTable(d)}${notes}${yaml}</main></body></html>
`;
}
