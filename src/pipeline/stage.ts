/**
 * What a stage is: a small named, versioned step with declared inputs (the columns it reads from
 * each table), declared outputs (schemas from src/stages/tables.ts) and typed parameters.
 * The runner (runner.ts) owns files, resume, sharding and progress; a stage only reads rows,
 * calls engines and writes rows.
 */
import type { Row, Schema } from '../io/schema.js';
import type { Engine } from '../engines/types.js';

export type ParamType = 'integer' | 'number' | 'string' | 'boolean' | 'string[]';

export interface ParamSpec {
  type: ParamType;
  describe: string;
  /** Absent: the parameter is required. */
  default?: unknown;
  /** false for parameters that cannot change the output (concurrency, batch sizes): kept out of the fingerprint. */
  affectsResult?: boolean;
  /** Allowed values for strings. */
  choices?: readonly string[];
  /** Also accepted as the command's positional arguments (e.g. prepare's input files). */
  positional?: boolean;
  /**
   * A file or folder path: relative values in a pipeline file resolve against that file's folder,
   * and `run:x` means the folder x inside the run folder (e.g. run:models/train_pi).
   */
  path?: boolean;
}

export type ParamSpecs = Record<string, ParamSpec>;

export interface StageProgress {
  /** Total units of work for this part (e.g. input rows), when known. */
  setTotal(total: number): void;
  /** Units finished; `cached` ones came from the journal. */
  tick(units?: number, kind?: 'new' | 'cached' | 'failed'): void;
}

export interface StageContext<P> {
  readonly params: P;
  /** The stage instance's id in the pipeline (names its logs, journals and model folders). */
  readonly stageId: string;
  readonly part: number;
  readonly parts: number;
  readonly runDir: string;
  /** The folder name (under runDir) of a table this stage declares: its own name unless the pipeline renames it (`tables:`). */
  tableName(logical: string): string;
  /** This part's rows of an input table (all parts when the stage's scope is 'all'), in stored order. */
  read(table: string, options?: { columns?: string[] }): AsyncGenerator<Row[]>;
  /** Appends rows to an output table of this part; rows are validated against its schema. */
  write(table: string, rows: Row[]): Promise<void>;
  /** The engine bound to a role, wrapped so every call is journaled. */
  engine(role: string): Promise<Engine>;
  readonly progress: StageProgress;
  log(message: string): void;
}

export interface StageDefinition<P = Record<string, unknown>> {
  name: string;
  /** Bump when the stage's output changes for the same inputs and parameters. */
  version: number;
  describe: string;
  /** Logical input table -> columns read. */
  inputs: Record<string, readonly string[]>;
  /** Logical output table -> schema. */
  outputs: Record<string, Schema>;
  params: ParamSpecs;
  /** Engine roles -> what the role does. */
  engines?: Record<string, string>;
  /** 'part' (default): once per hash partition; 'all': one part reading every input part. */
  scope?: 'part' | 'all';
  /** Extra text that affects results but is not a parameter (template texts, verifier versions). */
  fingerprintExtra?(params: P): string | Promise<string>;
  /**
   * Stages without table inputs (prepare) produce rows for every part at once; the runner keeps
   * those whose sample_id falls in the part being written.
   */
  run(context: StageContext<P>): Promise<void>;
}

/** Helper so each stage file keeps its parameter type. */
export function defineStage<P>(definition: StageDefinition<P>): StageDefinition<P> {
  return definition;
}

/** Groups consecutive rows with the same key (rows of one question are contiguous in every table). */
export async function* groupConsecutive(
  batches: AsyncIterable<Row[]>,
  key: (row: Row) => string,
): AsyncGenerator<Row[]> {
  let current: Row[] = [];
  let currentKey: string | undefined;
  for await (const batch of batches) {
    for (const row of batch) {
      const k = key(row);
      if (currentKey !== undefined && k !== currentKey) {
        yield current;
        current = [];
      }
      currentKey = k;
      current.push(row);
    }
  }
  if (current.length > 0) yield current;
}
