/**
 * Turns a Rust panic inside parquet-wasm's async code into a rejected promise.
 *
 * Why: a corrupt page makes arrow-rs panic; in the async reader that panic surfaces as an
 * uncaught `WebAssembly.RuntimeError` thrown from a wasm task, never as a rejection, so the
 * caller's promise hangs and the process dies with a wasm stack trace. While guarded calls are in
 * flight we hold Node's uncaught-exception capture callback: a wasm RuntimeError rejects every
 * call in flight (the panic may belong to any of them); anything else is re-thrown as if we were
 * not there. Measured here: the module keeps working after such a panic.
 */

const inFlight = new Set<(err: unknown) => void>();
let capturing = false;

/** True for the error a Rust panic raises in wasm (a WebAssembly.RuntimeError, e.g. "unreachable"). */
export function isWasmPanic(err: unknown): boolean {
  // the WebAssembly namespace is not in this project's type libraries, hence the name check
  return err instanceof Error && err.name === 'RuntimeError' && (err.stack ?? '').includes('wasm://');
}

function onUncaught(err: unknown): void {
  if (isWasmPanic(err) && inFlight.size > 0) {
    const rejects = [...inFlight];
    inFlight.clear();
    release();
    for (const reject of rejects) reject(err);
    return;
  }
  // not a panic: step aside (even with calls in flight, or the re-throw would come back to us)
  process.setUncaughtExceptionCaptureCallback(null);
  capturing = false;
  process.nextTick(() => { throw err; });
}

function release(): void {
  if (capturing && inFlight.size === 0) {
    process.setUncaughtExceptionCaptureCallback(null);
    capturing = false;
  }
}

/**
 * Runs `call`; a wasm panic while it is pending rejects it with the RuntimeError. Where another
 * part of the process already holds the capture callback, runs unguarded.
 */
export function guardWasm<T>(call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (!capturing && !process.hasUncaughtExceptionCaptureCallback()) {
      process.setUncaughtExceptionCaptureCallback(onUncaught);
      capturing = true;
    }
    const settle = (fn: () => void) => { inFlight.delete(rejecter); release(); fn(); };
    const rejecter = (err: unknown) => settle(() => reject(err));
    inFlight.add(rejecter);
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      rejecter(err);
      return;
    }
    p.then((v) => { if (inFlight.has(rejecter)) settle(() => resolve(v)); }, (err: unknown) => { if (inFlight.has(rejecter)) rejecter(err); });
  });
}
