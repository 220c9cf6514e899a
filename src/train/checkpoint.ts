/**
 * Checkpoints of the embedded trainer: `<out>/checkpoints/step-NNNNNN/` holds state.safetensors
 * (weights `w/…`, Adam moments `m/…` and `v/…`) and trainer_state.json. The folder is written
 * under a temporary name, fsynced and renamed; `latest.json` is replaced atomically last, so a
 * kill at any point leaves the previous checkpoint usable ("done" = pointed to by latest.json).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { VrdataError } from '../util/errors.js';
import { encodeSafetensors, readSafetensors, type NamedTensor } from './safetensors.js';

/** What a checkpoint restores besides the tensors. */
export interface TrainerState {
  /** Optimiser steps completed. */
  step: number;
  /** Hash of everything that must match for a resume to be exact (data, plan, hyper-parameters). */
  fingerprint: string;
  /** RNG state (reserved for stochastic parts; the data order is a pure function of the seed). */
  rngState: number;
  /** Loss history so far (one per step), so the final report covers the whole run. */
  losses: number[];
}

export interface Checkpoint {
  state: TrainerState;
  weights: NamedTensor[];
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/** The error for an output folder whose checkpoints (in `checkpointDir`) belong to another run; both trainers refuse them alike. */
export function foreignCheckpointsError(out: string, checkpointDir: string): VrdataError {
  return new VrdataError('train', `${out} holds checkpoints of a different run (other data, base or options); use another --out or delete ${checkpointDir}`);
}

/** Writes bytes to a file and fsyncs it. */
export function writeFileDurable(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // some file systems refuse fsync on directories; the rename is still atomic
  }
}

/** Writes a checkpoint atomically and points latest.json at it; keeps the newest `keep` checkpoints. */
export function saveCheckpoint(outDir: string, ck: Checkpoint, keep = 2): string {
  const root = join(outDir, 'checkpoints');
  mkdirSync(root, { recursive: true });
  const name = `step-${String(ck.state.step).padStart(6, '0')}`;
  const tmp = join(root, `${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const tensors: NamedTensor[] = [];
  for (const w of ck.weights) {
    tensors.push({ name: `w/${w.name}`, shape: w.shape, data: w.data });
    tensors.push({ name: `m/${w.name}`, shape: w.shape, data: ck.m.get(w.name)! });
    tensors.push({ name: `v/${w.name}`, shape: w.shape, data: ck.v.get(w.name)! });
  }
  writeFileDurable(join(tmp, 'state.safetensors'), encodeSafetensors(tensors));
  writeFileDurable(join(tmp, 'trainer_state.json'), JSON.stringify(ck.state));
  fsyncDir(tmp);
  const final = join(root, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  fsyncDir(root);
  const latestTmp = join(root, `latest.json.tmp-${process.pid}`);
  writeFileDurable(latestTmp, JSON.stringify({ checkpoint: name, step: ck.state.step }));
  renameSync(latestTmp, join(root, 'latest.json'));
  fsyncDir(root);
  for (const d of listCheckpoints(root).slice(0, -keep)) rmSync(join(root, d), { recursive: true, force: true });
  return final;
}

function listCheckpoints(root: string): string[] {
  return readdirSync(root).filter((d) => /^step-\d+$/.test(d)).sort();
}

/** Removes temporary folders a killed run left behind. */
export function removeStrayTemps(outDir: string): void {
  const root = join(outDir, 'checkpoints');
  if (!existsSync(root)) return;
  for (const d of readdirSync(root)) if (d.includes('.tmp-')) rmSync(join(root, d), { recursive: true, force: true });
}

/** Loads the checkpoint latest.json points to, or undefined when there is none. */
export function loadLatestCheckpoint(outDir: string): Checkpoint | undefined {
  const root = join(outDir, 'checkpoints');
  const latest = join(root, 'latest.json');
  if (!existsSync(latest)) return undefined;
  const { checkpoint } = JSON.parse(readFileSync(latest, 'utf8')) as { checkpoint: string };
  const dir = join(root, checkpoint);
  if (!existsSync(join(dir, 'trainer_state.json'))) {
    throw new VrdataError('train', `${latest} points to ${checkpoint}, which is missing; delete ${root} to start over`);
  }
  const state = JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as TrainerState;
  const { tensors } = readSafetensors(join(dir, 'state.safetensors'));
  const weights: NamedTensor[] = [];
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const t of tensors) {
    const name = t.name.slice(2);
    if (t.name.startsWith('w/')) weights.push({ name, shape: t.shape, data: t.data });
    else if (t.name.startsWith('m/')) m.set(name, t.data);
    else if (t.name.startsWith('v/')) v.set(name, t.data);
  }
  return { state, weights, m, v };
}
