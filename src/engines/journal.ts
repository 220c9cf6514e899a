/**
 * A durable journal of finished model calls (STYLE.md §5): one JSON line per result, keyed
 * by a hash of the request's content, so a rerun after a crash sends only what is missing.
 *
 * Durability: `append` resolves only after its line is written and fdatasync'd. Appends that
 * arrive while a sync is running are written together by the next one (group commit), so
 * many concurrent calls cost few syncs and a crash loses only calls still in flight. A torn
 * last line (a crash mid-write) is dropped and cut off on open; any other bad line is an error.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VrdataError } from '../util/errors.js';
import type { Completion, Engine, GenerateRequest, ScoreRequest, ScoreResult } from './types.js';

/** sha256 (hex) of `value` as canonical JSON (sorted keys; typed arrays as plain arrays). */
export function contentKey(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** JSON with sorted object keys, so equal requests give equal keys whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v as object).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

interface Pending {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Journal {
  private readonly entries = new Map<string, unknown>();
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;
  /** fdatasync calls made so far (for tests and benchmarks). */
  syncs = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Opens (creating if needed) the journal at `path` and loads what it holds. */
  static async open(path: string): Promise<Journal> {
    await mkdir(dirname(path), { recursive: true });
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const handle = await open(path, 'a+');
    const journal = new Journal(path, handle);
    const goodBytes = journal.load(text);
    if (goodBytes < Buffer.byteLength(text)) {
      // Cut the torn tail so the next append starts on a fresh line.
      await handle.truncate(goodBytes);
      await handle.datasync();
    }
    return journal;
  }

  /** Parses every complete line; returns the byte length of the good prefix. */
  private load(text: string): number {
    let start = 0;
    let line = 0;
    while (start < text.length) {
      const end = text.indexOf('\n', start);
      line++;
      if (end < 0) break; // no newline: a torn last line
      const raw = text.slice(start, end);
      let record: { k: string; v: unknown };
      try {
        record = JSON.parse(raw) as { k: string; v: unknown };
      } catch {
        if (end + 1 >= text.length) break; // a torn last line that happened to end in a newline byte
        throw new VrdataError('journal', `line ${line} of ${this.path} is not valid JSON; the file is damaged in the middle. Move it aside to start afresh, or delete that line.`);
      }
      if (typeof record.k !== 'string') {
        throw new VrdataError('journal', `line ${line} of ${this.path} has no key "k"; this is not a vrdata journal. Point at another file.`);
      }
      this.entries.set(record.k, record.v);
      start = end + 1;
    }
    return Buffer.byteLength(text.slice(0, start));
  }

  /** Entries held (loaded and appended); a key appended twice counts once. */
  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get<T = unknown>(key: string): T | undefined {
    return this.entries.get(key) as T | undefined;
  }

  /** Records `value` under `key`; resolves once it is on disk. `value` must be JSON-serialisable. */
  append(key: string, value: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new VrdataError('journal', `${this.path} is closed; open it again before appending.`));
    const line = `${JSON.stringify({ k: key, v: value })}\n`;
    this.entries.set(key, value);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /** Writes and syncs until nothing is pending; appends made meanwhile join the next batch. */
  private async flushLoop(): Promise<void> {
    // Let the appends of the current tick join this batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.handle.write(batch.map((p) => p.line).join(''));
        await this.handle.datasync();
        this.syncs++;
        for (const p of batch) p.resolve();
      } catch (err) {
        const wrapped = new VrdataError('journal', `could not write ${this.path}: ${(err as Error).message}. Check free space and permissions.`, { cause: err });
        for (const p of batch) p.reject(wrapped);
      }
    }
    this.flushing = null;
  }

  /** Resolves when everything appended so far is on disk. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.handle.close();
  }
}

/** Counts of one journaled engine's calls: served from the journal, sent to the engine, failed. */
export interface JournalStats {
  cached: number;
  sent: number;
  failed: number;
}

/** Requests that still failed after the engine's own retries; everything else was journaled. */
export class JournaledBatchError extends VrdataError {
  readonly failures: { index: number; error: unknown }[];
  constructor(op: string, failures: { index: number; error: unknown }[], total: number) {
    const first = failures[0]?.error;
    super(
      'journal',
      `${failures.length} of ${total} ${op} requests failed (first: ${first instanceof Error ? first.message : String(first)}). ` +
        'The others are journaled; rerun to retry only the failed ones.',
    );
    this.failures = failures;
  }
}

export interface JournaledOptions {
  /** Requests per engine call (an embedded engine batches them); default 1. */
  batchSize?: number;
  /**
   * Generate calls also stop at this many samples (the sum of n): an embedded engine's decode batch,
   * so a call is one batch and a crash loses at most that one. Default: no limit.
   */
  rowsPerCall?: number;
  /** Engine calls in flight at once; default 256 (HTTP engines limit per endpoint themselves). */
  concurrency?: number;
}

/** An engine whose generate/score results are served from `journal` when present and journaled when new. */
export type JournaledEngine = Engine & { readonly stats: JournalStats };

/**
 * Wraps `engine` so every finished generate/score request is journaled under a key built from
 * the engine's id and the request's content (never an endpoint), and served from the journal
 * on later calls. A request is journaled as soon as its own batch finishes, so a crash mid-call
 * loses only what was in flight. Failures are not journaled: after the other requests finish,
 * a `JournaledBatchError` lists them. Closing the wrapper closes the engine, not the journal.
 */
export function journaled(engine: Engine, journal: Journal, options: JournaledOptions = {}): JournaledEngine {
  const batchSize = Math.max(1, options.batchSize ?? 1);
  const rowsPerCall = options.rowsPerCall === undefined ? undefined : Math.max(1, options.rowsPerCall);
  const concurrency = Math.max(1, options.concurrency ?? 256);
  const stats: JournalStats = { cached: 0, sent: 0, failed: 0 };

  async function through<Req, Res>(spec: {
    op: 'generate' | 'score';
    requests: Req[];
    call: (batch: Req[]) => Promise<Res[]>;
    encode: (res: Res) => unknown;
    decode: (stored: unknown) => Res;
  }): Promise<Res[]> {
    const results: (Res | undefined)[] = new Array(spec.requests.length);
    const keys = spec.requests.map((req) => contentKey({ op: spec.op, engine: engine.id, request: req }));
    const missing: number[] = [];
    keys.forEach((key, i) => {
      if (journal.has(key)) {
        results[i] = spec.decode(journal.get(key));
        stats.cached++;
      } else missing.push(i);
    });
    const batches: number[][] = [];
    const rows = (i: number): number => (spec.op === 'generate' && rowsPerCall !== undefined ? (spec.requests[i] as GenerateRequest).options.n : 0);
    let cur: number[] = [], curRows = 0;
    for (const i of missing) {
      if (cur.length > 0 && (cur.length >= batchSize || curRows + rows(i) > (rowsPerCall ?? Infinity))) { batches.push(cur); cur = []; curRows = 0; }
      cur.push(i);
      curRows += rows(i);
    }
    if (cur.length > 0) batches.push(cur);
    const failures: { index: number; error: unknown }[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        stats.sent += batch.length;
        try {
          const out = await spec.call(batch.map((i) => spec.requests[i]!));
          await Promise.all(
            batch.map((index, j) => {
              results[index] = out[j]!;
              return journal.append(keys[index]!, spec.encode(out[j]!));
            }),
          );
        } catch (error) {
          stats.failed += batch.length;
          for (const index of batch) failures.push({ index, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    if (failures.length > 0) {
      failures.sort((a, b) => a.index - b.index);
      throw new JournaledBatchError(spec.op, failures, spec.requests.length);
    }
    return results as Res[];
  }

  return {
    id: engine.id,
    stats,
    generate: (requests: GenerateRequest[]) =>
      through({ op: 'generate', requests, call: (b) => engine.generate(b), encode: (c: Completion[]) => c, decode: (v) => v as Completion[] }),
    score: (requests: ScoreRequest[]) =>
      through({
        op: 'score',
        requests,
        call: (b) => engine.score(b),
        encode: (r: ScoreResult) => ({ tokens: r.tokens, logprobs: Array.from(r.logprobs) }),
        decode: (v) => {
          const s = v as { tokens: number[]; logprobs: number[] };
          return { tokens: s.tokens, logprobs: Float32Array.from(s.logprobs) };
        },
      }),
    tokenize: (text: string) => engine.tokenize(text),
    close: () => engine.close(),
  };
}
