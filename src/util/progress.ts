/**
 * Progress for long work, on stderr: a live bar with rate and ETA on a TTY (cli-progress), plain
 * lines at most every few seconds otherwise (logs, CI). Cached, new and failed units are counted
 * apart so a resumed run shows what it skipped.
 */
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  label: string;
  total?: number;
  unit?: string;
  /** Defaults to process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Seconds between plain lines when not on a TTY. */
  intervalSeconds?: number;
  /** Silences all output (tests). */
  quiet?: boolean;
}

export class Progress {
  private total: number;
  private done = { new: 0, cached: 0, failed: 0 };
  private readonly started = Date.now();
  private lastLine = 0;
  private readonly bar?: cliProgress.SingleBar;
  private readonly stream: NodeJS.WriteStream;
  private readonly unit: string;

  constructor(private readonly options: ProgressOptions) {
    this.total = options.total ?? 0;
    this.stream = options.stream ?? process.stderr;
    this.unit = options.unit ?? 'rows';
    if (!options.quiet && this.stream.isTTY && !process.env.VRDATA_TEST) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          format: `${options.label} [{bar}] {percentage}% {value}/{total} ${this.unit} | {rate}/s | ETA {eta_formatted} | cached {cached} new {fresh} failed {failed}`,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, 0, this.payload());
    }
  }

  setTotal(total: number): void {
    this.total = total;
    this.bar?.setTotal(total);
  }

  addTotal(more: number): void {
    this.setTotal(this.total + more);
  }

  tick(units = 1, kind: 'new' | 'cached' | 'failed' = 'new'): void {
    this.done[kind] += units;
    const value = this.done.new + this.done.cached + this.done.failed;
    if (this.bar) {
      this.bar.update(value, this.payload());
      return;
    }
    if (this.options.quiet) return;
    const now = Date.now();
    if (now - this.lastLine >= (this.options.intervalSeconds ?? 5) * 1000) {
      this.lastLine = now;
      this.stream.write(`${this.line()}\n`);
    }
  }

  /** Finishes the bar (or prints the last plain line) with totals and elapsed time. */
  stop(): { seconds: number; new: number; cached: number; failed: number } {
    const seconds = (Date.now() - this.started) / 1000;
    if (this.bar) this.bar.stop();
    else if (!this.options.quiet) this.stream.write(`${this.line()} done in ${seconds.toFixed(1)}s\n`);
    return { seconds, ...this.done };
  }

  private rate(): number {
    const seconds = (Date.now() - this.started) / 1000;
    return seconds > 0 ? this.done.new / seconds : 0;
  }

  private payload() {
    return { rate: this.rate().toFixed(1), cached: this.done.cached, fresh: this.done.new, failed: this.done.failed };
  }

  private line(): string {
    const value = this.done.new + this.done.cached + this.done.failed;
    const rate = this.rate();
    const left = this.total - value;
    const eta = rate > 0 && left > 0 ? ` ETA ${formatSeconds(left / rate)}` : '';
    const of = this.total > 0 ? `/${this.total}` : '';
    return `${this.options.label}: ${value}${of} ${this.unit} (cached ${this.done.cached}, new ${this.done.new}, failed ${this.done.failed}) ${rate.toFixed(1)}/s${eta}`;
  }
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
