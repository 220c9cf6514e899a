/**
 * The trainer's progress on stderr: a live bar with step, loss, tokens/s and ETA on a TTY, plain
 * lines (at most one every few seconds, plus the last step) otherwise.
 */
import cliProgress from 'cli-progress';
import { formatSeconds } from '../util/progress.js';

export interface StepInfo {
  step: number;
  total: number;
  loss: number;
  lr: number;
  tokens: number;
}

export class TrainProgress {
  private readonly bar?: cliProgress.SingleBar;
  private readonly started = Date.now();
  private tokens = 0;
  private lastLine = 0;

  constructor(private readonly o: { label: string; total: number; startStep: number; quiet?: boolean; stream?: NodeJS.WriteStream; intervalSeconds?: number }) {
    const stream = o.stream ?? process.stderr;
    if (!o.quiet && stream.isTTY && !process.env.VRDATA_TEST) {
      this.bar = new cliProgress.SingleBar({
        stream,
        format: `${o.label} [{bar}] {value}/{total} steps | loss {loss} | {tps} tok/s | ETA {eta}`,
        hideCursor: true,
        clearOnComplete: false,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(o.total, o.startStep, { loss: '-', tps: '-', eta: '-' });
    }
  }

  /** Tokens/s since this process started training (resumed steps not counted). */
  get tokensPerSecond(): number {
    const s = (Date.now() - this.started) / 1000;
    return s > 0 ? this.tokens / s : 0;
  }

  step(s: StepInfo): void {
    this.tokens += s.tokens;
    const tps = this.tokensPerSecond;
    const doneHere = s.step - this.o.startStep;
    const secsPerStep = doneHere > 0 ? (Date.now() - this.started) / 1000 / doneHere : 0;
    const eta = formatSeconds(secsPerStep * (s.total - s.step));
    if (this.bar) {
      this.bar.update(s.step, { loss: s.loss.toFixed(4), tps: tps.toFixed(0), eta });
      return;
    }
    if (this.o.quiet) return;
    const now = Date.now();
    if (s.step === s.total || now - this.lastLine >= (this.o.intervalSeconds ?? 5) * 1000) {
      this.lastLine = now;
      (this.o.stream ?? process.stderr).write(`${this.o.label}: step ${s.step}/${s.total} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} ${tps.toFixed(0)} tok/s ETA ${eta}\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
