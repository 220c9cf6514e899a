/** The plain data a report page is drawn from: `collect` fills it from a run folder, `render` draws it. */
import type { EvalReport } from '../eval/metrics.js';

/** One table of the run folder, from its part manifests. */
export interface TableStat {
  table: string;
  /** The stage that wrote it (from the manifests), when known. */
  stage?: string;
  /** Parts with a manifest / parts declared by the file names. */
  partsDone: number;
  parts: number;
  rows: number;
  /** Sum of the parts' `seconds` (work time, parts may have run in parallel). */
  seconds: number;
  /** Last finish minus first start over the parts, when the manifests say. */
  wallSeconds?: number;
  startedAt?: string;
}

/** Per-trace quantities from the weights table. */
export interface WeightsData {
  /** rho~ of eligible traces. */
  rho: number[];
  /** acc of traces that have one (verified questions). */
  acc: number[];
  eligible: number;
  ineligible: number;
  selected: number;
  questions: number;
  /** Traces per estimator after fallbacks (Acc, GML, L). */
  estimators: Record<string, number>;
}

/** Thought lengths (characters) of the traces the weights selected and of the original responses. */
export interface SelectedVsOriginal {
  selected: number[];
  original: number[];
}

export interface EvalData {
  table: string;
  report: EvalReport;
}

/** Eval accuracy of one round of a multi-round (variational EM) run. */
export interface RoundData {
  /** 1-based; round 1 is the run folder itself, round r > 1 is <run>/round-r. */
  round: number;
  evals: { table: string; accuracy: number; stderr: number; questions: number }[];
}

export interface ReportData {
  /** Run name (folder base name). */
  run: string;
  runDir: string;
  generatedAt: string;
  tables: TableStat[];
  weights?: WeightsData;
  /** traces.tokens. */
  traceTokens?: number[];
  selectedVsOriginal?: SelectedVsOriginal;
  /** Eval tables in before -> after order. */
  evals: EvalData[];
  /** Fraction of verdicts that are correct, and how many there are. */
  verdicts?: { total: number; correct: number };
  /** Accuracy per round, for runs with round-r folders (rounds > 1). */
  rounds?: RoundData[];
  /** pipeline.yaml as written by the run, when present. */
  pipelineYaml?: string;
  /** Things collect could not read, said plainly; shown on the page. */
  notes: string[];
}
