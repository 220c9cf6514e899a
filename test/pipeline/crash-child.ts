/**
 * Child process for test/pipeline/crash.test.ts: runs `prepare` (parts from CRASH_PARTS) over
 * CRASH_INPUT into CRASH_RUN_DIR, and SIGKILLs itself at the point CRASH_KILL names:
 *   flush:N   right after the N-th row group is handed to the Parquet writer (mid-write, temp file open)
 *   close:N   right after the N-th Parquet file is complete and fsynced, before it is renamed
 *   rename:N  right after the N-th rename (Parquet parts and manifests are both renamed into place)
 *   none      no self-kill (the parent may still kill it at a random time)
 * Prints "ready" once loaded and "counts {...}" (flushes, closes, renames) when it finishes.
 * Self-kill makes the point exact; the hooks only observe and never change what is written.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { ParquetWriter } from '../../src/io/parquet.js';

const [mode, nText] = (process.env.CRASH_KILL ?? 'none').split(':');
const target = Number(nText ?? 0);
const counts = { flushes: 0, closes: 0, renames: 0 };
const die = () => process.kill(process.pid, 'SIGKILL');

type Flush = (this: ParquetWriter, count: number) => Promise<void>;
const proto = ParquetWriter.prototype as unknown as { flushGroup: Flush };
const flushGroup = proto.flushGroup;
proto.flushGroup = function (this: ParquetWriter, count: number) {
  const done = flushGroup.call(this, count);
  // Die once the wasm writer has taken the batch and bytes of this file are on disk (a kill on the
  // next tick alone raced the writer: under load it often came before any byte, and the test's
  // count of kills inside a Parquet write fell short). Dies anyway after 500 ms or once the file is closed.
  if (++counts.flushes === target && mode === 'flush') {
    const handle = (this as unknown as { handle: fs.promises.FileHandle }).handle;
    void done.then(async () => {
      const size = (): Promise<number> => handle.stat().then((st) => st.size, () => -1); // -1: the file is already closed
      for (let waited = 0; waited < 500 && (await size()) === 0; waited += 2) await new Promise((r) => setTimeout(r, 2));
      die();
    }, die);
  }
  return done;
};
const close = ParquetWriter.prototype.close;
ParquetWriter.prototype.close = async function (this: ParquetWriter) {
  const info = await close.call(this);
  if (++counts.closes === target && mode === 'close') die();
  return info;
};
// The runner renames through `import { rename } from 'node:fs/promises'`: patch the builtin and
// push the change into ESM bindings.
const rename = fs.promises.rename;
fs.promises.rename = async (from: fs.PathLike, to: fs.PathLike) => {
  await rename(from, to);
  if (++counts.renames === target && mode === 'rename') die();
};
syncBuiltinESMExports();

const { prepareInProcess } = await import('../helpers/prepare.js');
process.stdout.write('ready\n');
await prepareInProcess([process.env.CRASH_INPUT!], process.env.CRASH_RUN_DIR!, {
  parts: Number(process.env.CRASH_PARTS ?? 4),
  params: process.env.CRASH_MAX_ROW_CHARS ? { max_row_chars: Number(process.env.CRASH_MAX_ROW_CHARS) } : {},
});
process.stdout.write(`counts ${JSON.stringify(counts)}\n`);
