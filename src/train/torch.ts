/**
 * `--trainer torch`: runs python/train_sft.py (PyTorch; transformers for Hugging Face models) with
 * the same tokenization, data order and normaliser as the embedded trainer, shows its JSON
 * progress lines, and, when the base is one of this project's ONNX model folders, converts the
 * result back into an inference model folder.
 *
 * Work folder `<out>/torch/`: the exported base, tokens.jsonl, checkpoints/ (the script's
 * step-XXXXXXXX folders, bound to the run fingerprint: a rerun of the same command resumes from
 * the newest, one with other data, base or options is refused like the embedded trainer's), and
 * events.jsonl (every JSON line the script printed, all attempts appended: starts, resumes,
 * steps, checkpoints).
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModelFolder, writeModelFolder, MODEL_FILES } from '../model/folder.js';
import { qwen3ParamShapes, type Qwen3Config } from '../model/qwen3.js';
import { VrdataError } from '../util/errors.js';
import { foreignCheckpointsError, writeFileDurable } from './checkpoint.js';
import { planRun } from './data.js';
import { llamaFactoryConfig } from './llamafactory.js';
import { TrainProgress } from './progress.js';
import { encodeSafetensors, readSafetensors } from './safetensors.js';
import { RESULT_FILE, finishedResult, prepareExamples, runFingerprint, type TrainResult, type TrainSftOptions } from './trainer.js';

/** Path of the PyTorch trainer script kept in the project. */
export const TORCH_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'python', 'train_sft.py');

/** The interpreter to use: the option, $VRDATA_PYTHON, or python3. */
export function pythonFor(o: { python?: string }): string {
  return o.python ?? process.env.VRDATA_PYTHON ?? 'python3';
}

/** Which of torch/transformers `python` cannot import (empty when both import; throws when python itself is missing). */
export function missingPythonPackages(python: string, packages = ['torch', 'transformers']): string[] {
  const code = `import importlib.util,sys\nprint(','.join(p for p in sys.argv[1:] if importlib.util.find_spec(p) is None))`;
  const r = spawnSync(python, ['-c', code, ...packages], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new VrdataError('train', `cannot run ${python} (${r.error?.message ?? r.stderr.trim()}); install Python 3 or pass --python /path/to/python3`);
  }
  return r.stdout.trim().split(',').filter(Boolean);
}

function isOwnModelFolder(dir: string): boolean {
  return existsSync(join(dir, MODEL_FILES.onnx)) && !readdirSync(dir).some((f) => f.endsWith('.safetensors'));
}

/** Runs the torch trainer; see trainSft. */
export async function trainTorch(o: TrainSftOptions): Promise<TrainResult> {
  const python = pythonFor(o);
  const missing = missingPythonPackages(python);
  if (missing.includes('torch')) {
    throw new VrdataError('train', `--trainer torch needs PyTorch, which ${python} cannot import (missing: ${missing.join(', ')}); pip install torch transformers (Debian: apt-get install python3-torch), or pass --python`);
  }
  const own = isOwnModelFolder(o.base);
  if (missing.includes('transformers') && !own) {
    throw new VrdataError('train', `--trainer torch with a Hugging Face model needs transformers, which ${python} cannot import; pip install transformers, or pass --python`);
  }
  const fingerprint = await runFingerprint(o, { trainer: 'torch' });
  const done = finishedResult(o.out, fingerprint);
  if (done) return done;
  const work = join(o.out, 'torch');
  mkdirSync(work, { recursive: true });

  // The base: an HF folder as it is, or this project's ONNX folder exported to config.json + model.safetensors.
  let modelArg = o.base;
  let config: Qwen3Config | undefined;
  let eosSource: { eos_token_id?: number | number[] } = {};
  if (own) {
    const base = await readModelFolder(o.base);
    config = base.config;
    eosSource = config;
    modelArg = join(work, 'base');
    mkdirSync(modelArg, { recursive: true });
    writeFileDurable(join(modelArg, 'model.safetensors'), encodeSafetensors([...base.weights].map(([name, data]) => ({ name, shape: shapeOf(base.config, name), data }))));
    writeFileDurable(join(modelArg, 'config.json'), JSON.stringify(config, null, 1));
  } else {
    eosSource = JSON.parse(await readFile(join(o.base, 'config.json'), 'utf8')) as typeof eosSource;
  }
  const set = await prepareExamples(o, eosSource);
  const plan = planRun(set.examples, o);
  const tokensPath = join(work, 'tokens.jsonl');
  await writeFile(tokensPath, set.examples.map((e) => JSON.stringify({ input_ids: Array.from(e.ids), prompt_len: e.promptLen, weight: e.weight })).join('\n') + '\n');
  await writeFile(join(o.out, 'llamafactory_sft.yaml'), llamaFactoryConfig(o));

  const hfOut = own ? join(work, 'trained') : o.out;
  const checkpointDir = join(work, 'checkpoints');
  const args = [
    TORCH_SCRIPT, '--model', modelArg, '--tokens', tokensPath, '--out', hfOut,
    '--epochs', String(o.epochs), '--lr', String(o.lr), '--min-lr-ratio', String(o.minLrRatio), '--warmup', String(o.warmup),
    '--batch-tokens', String(o.batchTokens), '--grad-accum', String(o.gradAccum), '--max-steps', String(o.maxSteps),
    '--normaliser', String(plan.normaliser), '--weight-decay', String(o.weightDecay), '--beta1', String(o.adam.beta1),
    '--beta2', String(o.adam.beta2), '--adam-eps', String(o.adam.eps), '--max-grad-norm', String(o.maxGradNorm), '--seed', String(o.seed),
    '--checkpoint-dir', checkpointDir, '--checkpoint-every', String(o.checkpointEvery), '--run-id', fingerprint,
  ];
  if (o.threads > 0) args.push('--threads', String(o.threads));
  if (own) args.push('--mini');
  const launcher = o.torchLauncher ?? [];
  const cmd = launcher.length > 0 ? launcher[0]! : python;
  const cmdArgs = launcher.length > 0 ? [...launcher.slice(1), ...args] : args;
  const outcome = await runScript({ cmd, args: cmdArgs, total: plan.steps.length, quiet: o.quiet, eventsPath: join(work, 'events.jsonl') });
  if (outcome.foreignCheckpoints) {
    throw foreignCheckpointsError(o.out, checkpointDir);
  }
  if (own) {
    const { tensors } = readSafetensors(join(hfOut, 'model.safetensors'));
    await writeModelFolder({ dir: o.out, config: config!, weights: new Map(tensors.map((t) => [t.name, t.data])), tokenizerFrom: o.base });
  }
  const final: TrainResult = {
    trainer: 'torch', fingerprint, steps: plan.steps.length, normaliser: plan.normaliser, losses: outcome.losses,
    examples: set.examples.length, skippedRows: set.skipped, truncatedRows: set.truncated, out: o.out,
    tokens: outcome.tokens, seconds: outcome.seconds, tokensPerSecond: outcome.seconds > 0 ? outcome.tokens / outcome.seconds : 0,
  };
  writeFileDurable(join(o.out, RESULT_FILE), `${JSON.stringify(final, null, 1)}\n`);
  return final;
}

function shapeOf(c: Qwen3Config, name: string): number[] {
  return qwen3ParamShapes(c).get(name)!;
}

interface ScriptRun {
  cmd: string;
  args: string[];
  total: number;
  quiet?: boolean;
  /** Every JSON line the script prints is appended here. */
  eventsPath: string;
}

interface ScriptOutcome {
  /** Losses of all steps, those restored from a checkpoint included. */
  losses: number[];
  /** Tokens and seconds of this process's steps only. */
  tokens: number;
  seconds: number;
  /** The checkpoint folder belongs to another run; nothing was trained. */
  foreignCheckpoints: boolean;
}

/**
 * Runs the script, turning its JSON lines into progress; the last 40 stderr lines go into the error
 * on failure, which also says from which step a rerun resumes.
 */
async function runScript(r: ScriptRun): Promise<ScriptOutcome> {
  const { cmd, args, total } = r;
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  // Made at the first step, so a resumed run's ETA counts only the steps left.
  let progress: TrainProgress | undefined;
  let startStep = 0;
  let checkpointStep = 0;
  const losses: number[] = [];
  let tokens = 0;
  let seconds = 0;
  let errorLine: { missing?: string[]; message?: string; reason?: string } | undefined;
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 40) stderrTail.shift();
  });
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not a progress line (a library printing to stdout)
    }
    appendFileSync(r.eventsPath, `${line}\n`);
    if (ev.event === 'step') {
      losses.push(Number(ev.loss));
      progress ??= new TrainProgress({ label: 'train (torch)', total, startStep, quiet: r.quiet });
      progress.step({ step: Number(ev.step), total, loss: Number(ev.loss), lr: Number(ev.lr), tokens: Number(ev.tokens) });
    } else if (ev.event === 'resume') {
      startStep = checkpointStep = Number(ev.step);
      losses.splice(0, losses.length, ...(ev.losses as number[]));
      if (!r.quiet) process.stderr.write(`train (torch): resuming from step ${startStep}/${total} (${String(ev.checkpoint)})\n`);
    } else if (ev.event === 'checkpoint') {
      checkpointStep = Number(ev.step);
    } else if (ev.event === 'done') {
      tokens = Number(ev.tokens);
      seconds = Number(ev.elapsed_s);
    } else if (ev.event === 'error') {
      errorLine = ev as typeof errorLine;
    }
  });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
    child.on('error', (err) => rej(new VrdataError('train', `cannot start ${cmd} (${err.message}); install Python 3 or pass --python`, { cause: err })));
    child.on('close', (code, signal) => res({ code, signal }));
  });
  progress?.stop();
  if (exit.code !== 0) {
    if (errorLine?.reason === 'foreign-checkpoint') return { losses: [], tokens: 0, seconds: 0, foreignCheckpoints: true };
    if (errorLine?.missing) throw new VrdataError('train', `the torch trainer needs ${errorLine.missing.join(', ')}: ${errorLine.message ?? ''}`);
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with ${exit.code}`;
    const resume = checkpointStep > 0 ? `; rerunning the same command resumes from the checkpoint of step ${checkpointStep}` : '';
    throw new VrdataError('train', `the torch trainer (${cmd} ${args[0]}) ${how}:\n${stderrTail.join('\n')}\nfix the cause above and rerun${resume}`);
  }
  return { losses, tokens, seconds, foreignCheckpoints: false };
}
