/**
 * One JSON request over an undici Pool (keep-alive connections to one origin), with a hard
 * timeout, and errors sorted into transient (retry: 429, 5xx, resets, timeouts, truncated
 * bodies) and final (other 4xx, bad URLs, bad JSON in a complete body). Headers passed in (the
 * API key) are never put into error messages.
 *
 * undici rather than node:http: on loopback against a server that answers at once (64
 * connections, shared 2-core machine, A/B in one run), node:http's client cost ~104 us of CPU
 * per request and reached ~6.1k req/s; undici's Pool ~57 us and ~10.5k req/s.
 */
import { Pool, type Dispatcher } from 'undici';
import { TransientError } from '../ratelimit.js';
import { VrdataError } from '../../util/errors.js';

export interface HttpJsonRequest {
  /** The endpoint's connection pool (see `openPool`). */
  pool: Dispatcher;
  /** Origin and path, for error messages only (never headers). */
  where: string;
  path: string;
  method: 'GET' | 'POST';
  body?: unknown;
  /** Extra headers (the API key); merged over the JSON ones. */
  headers?: Record<string, string>;
  /** The whole exchange, connection to last body byte. */
  timeoutMs: number;
}

export interface HttpJsonResponse {
  status: number;
  json: unknown;
}

/**
 * A keep-alive pool of up to `connections` sockets to `origin`, no pipelining: an inference
 * server answers in its own order, and one slow answer must not hold up those behind it.
 */
export function openPool(origin: string, connections: number): Pool {
  // headersTimeout/bodyTimeout off: httpJson's own timer bounds the whole exchange (undici's
  // defaults of 300 s would cut long generations short). keepAliveTimeout stays undici's 4 s,
  // under uvicorn's 5 s (vLLM, SGLang), so an idle connection is dropped here before the server drops it.
  return new Pool(origin, { connections, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

// Errors a retry (maybe on another endpoint) can fix: the connection failed or went away.
const RESET_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_REQ_RETRY', 'ERR_STREAM_PREMATURE_CLOSE',
]);

const JSON_HEADERS = { accept: 'application/json', 'content-type': 'application/json' };
const GET_HEADERS = { accept: 'application/json' };

/**
 * Sends one request and resolves with the parsed JSON of a 2xx answer. Throws TransientError
 * for what a retry may fix and VrdataError('openai') for what it will not.
 */
export function httpJson(req: HttpJsonRequest): Promise<HttpJsonResponse> {
  // undici's dispatch with a handler, not pool.request: no body stream, no AbortSignal, one
  // promise per request (this is the client's hot path; bench/serve.bench.ts measures it).
  return new Promise<HttpJsonResponse>((resolve, reject) => {
    const { where } = req;
    let abort: ((err?: Error) => void) | undefined;
    let status = 0;
    let retryAfter: string | undefined;
    let chunks: Buffer[] = [];
    let settled = false;
    let timedOut = false;
    const timeout = (): TransientError => new TransientError('timeout', `openai: ${where}: no complete answer within ${req.timeoutMs} ms`);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      const err = timeout();
      abort?.(err);
      fail(err);
    }, req.timeoutMs);
    const base = req.body === undefined ? GET_HEADERS : JSON_HEADERS;
    req.pool.dispatch(
      {
        path: req.path,
        method: req.method,
        headers: req.headers ? { ...base, ...req.headers } : base,
        body: req.body === undefined ? null : JSON.stringify(req.body),
        // Generation is seeded, scoring and tokenizing are pure: sending again is always safe.
        idempotent: true,
      },
      {
        // undici's own handler interface: its newer onRequestStart/onResponse* one (marked as the
        // successor in undici 7's types) is wrapped onto this per request and parses every response
        // header into an object. On this hot path that, with pool.ts's Gate for p-limit, took the
        // client from ~47 to ~42 us of CPU per request (bench/serve.bench.ts, loopback).
        onConnect(a) {
          abort = a;
          chunks = [];
          status = 0;
          if (timedOut) a(timeout());
        },
        onHeaders(statusCode, rawHeaders) {
          status = statusCode;
          if (statusCode === 429) retryAfter = rawHeader(rawHeaders, 'retry-after');
          return true;
        },
        onData(chunk) {
          chunks.push(chunk);
          return true;
        },
        onComplete() {
          if (settled) return;
          const text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
          try {
            const json = answer(status, text, retryAfter, where);
            settled = true;
            clearTimeout(timer);
            resolve({ status, json });
          } catch (err) {
            fail(err as Error);
          }
        },
        onError(err) {
          fail(timedOut ? timeout() : classify(err, where, status === 0 ? 'reset' : 'truncated'));
        },
      },
    );
  });
}

/** The JSON of a complete answer, or the error its status calls for. */
function answer(status: number, text: string, retryAfter: string | string[] | undefined, where: string): unknown {
  if (status === 429) {
    throw new TransientError('rate-limit', `openai: ${where}: 429 rate limited`, { status, retryAfterMs: parseRetryAfter(retryAfter) });
  }
  if (status >= 500 || status === 408) throw new TransientError('status', `openai: ${where}: HTTP ${status} ${snippet(text)}`, { status });
  if (status < 200 || status >= 300) {
    throw new VrdataError('openai', `${where} answered HTTP ${status}: ${snippet(text)}. Check the request options and the server's model and version.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    // A body cut off where no Content-Length or chunk framing could tell shows up here.
    throw new TransientError('truncated', `openai: ${where}: the response is not complete JSON (${Buffer.byteLength(text)} bytes)`);
  }
}

/** The value of header `name` (lower case) in undici's raw [name, value, ...] list. */
function rawHeader(raw: Buffer[] | string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toString().toLowerCase() === name) return raw[i + 1]!.toString();
  return undefined;
}

/** Sorts a transport error: connection trouble is transient (`kind`), anything else (bad URL, closed pool) final. */
function classify(err: unknown, where: string, kind: 'reset' | 'truncated'): Error {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const message = e?.message ?? String(err);
  if (RESET_CODES.has(code)) {
    if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return new TransientError('truncated', `openai: ${where}: the response body was cut off`, { cause: err });
    if (code.endsWith('_TIMEOUT')) return new TransientError('timeout', `openai: ${where}: ${message}`, { cause: err });
    return new TransientError(kind, `openai: ${where}: ${kind === 'truncated' ? 'the response body was cut off: ' : ''}${message}`, { cause: err });
  }
  if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED') {
    return new VrdataError('openai', `${where}: the engine was closed while this request was in flight.`, { cause: err });
  }
  return new VrdataError('openai', `${where}: ${message}. Check the endpoint URL.`, { cause: err });
}

function snippet(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
