/**
 * A minimal safetensors reader/writer (F32, I64) for checkpoints and for the torch trainer's
 * model files: 8-byte little-endian header length, a JSON header, then the raw tensors.
 */
import { readFileSync } from 'node:fs';
import { VrdataError } from '../util/errors.js';

/** A named float32 tensor. */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Serialises float32 tensors (in the given order) with optional string metadata. */
export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const n = t.data.length * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8); // keeps the data 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors) {
    const src = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    src.copy(out, pos);
    pos += src.length;
  }
  return out;
}

/** Reads a safetensors file: F32 tensors (others refused) and the metadata. */
export function readSafetensors(path: string): { tensors: NamedTensor[]; metadata: Record<string, string> } {
  const buf = readFileSync(path);
  if (buf.length < 8) throw new VrdataError('train', `${path} is not a safetensors file (too short); delete it and rerun`);
  const n = Number(buf.readBigUInt64LE(0));
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (err) {
    throw new VrdataError('train', `${path}: unreadable safetensors header; delete it and rerun`, { cause: err });
  }
  const base = 8 + n;
  const tensors: NamedTensor[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as Record<string, string>;
      continue;
    }
    const t = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (t.dtype !== 'F32') throw new VrdataError('train', `${path}: tensor ${name} is ${t.dtype}; only F32 is supported here`);
    const [a, b] = t.data_offsets;
    const data = new Float32Array((b - a) / 4);
    Buffer.from(data.buffer).set(buf.subarray(base + a, base + b));
    tensors.push({ name, shape: t.shape, data });
  }
  tensors.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return { tensors, metadata };
}
