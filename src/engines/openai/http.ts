/**
 * One JSON request over a keep-alive HTTP/1.1 connection pool to one origin (node:net, or
 * node:tls for https://), with a hard timeout, and errors sorted into transient (retry: 429,
 * 5xx, resets, timeouts, truncated bodies) and final (other 4xx, bad URLs, bad JSON in a
 * complete body). Headers passed in (the API key) are never put into error messages.
 *
 * Hand-written rather than a library: the client's cost per request limits how fast a run can
 * feed fast servers. Against a server that answers at once (bench/serve.bench.ts `requestRate`:
 * loopback, 64 connections, 2 shared cores) undici's Pool reached 0.56-0.67 of autocannon's
 * request rate (49-77 us of CPU per request; node:http's client ~104 us), this client 0.91-1.04,
 * at about autocannon's own CPU per request. undici's cost was its general machinery (request
 * objects, the llhttp wasm parser, a corked writev from a setImmediate hop per dispatch); this
 * client writes each request as one string and parses only what it acts on (http-parser.ts).
 */
import net, { type Socket } from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { TransientError } from '../ratelimit.js';
import { VrdataError } from '../../util/errors.js';
import { HttpParseError, ResponseParser, type HttpResponse } from './http-parser.js';

export interface HttpJsonRequest {
  /** The endpoint's connection pool (see `openPool`). */
  pool: HttpPool;
  /** Origin and path, for error messages only (never headers). */
  where: string;
  path: string;
  method: 'GET' | 'POST';
  body?: unknown;
  /** Extra headers (the API key); merged over the JSON ones (names are sent lower-cased). */
  headers?: Record<string, string>;
  /** The whole exchange, from the call (waiting for a connection included) to the last body byte. */
  timeoutMs: number;
}

export interface HttpJsonResponse {
  status: number;
  json: unknown;
}

/**
 * A keep-alive pool of up to `connections` sockets to `origin`, no pipelining: an inference
 * server answers in its own order, and one slow answer must not hold up those behind it.
 * `tlsOptions` (e.g. `ca`) apply to https:// origins.
 */
export function openPool(origin: string, connections: number, tlsOptions?: ConnectionOptions): HttpPool {
  return new HttpPool(origin, connections, tlsOptions);
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

/**
 * Sends one request and resolves with the parsed JSON of a 2xx answer. Throws TransientError
 * for what a retry may fix and VrdataError('openai') for what it will not.
 */
export function httpJson(req: HttpJsonRequest): Promise<HttpJsonResponse> {
  return new Promise<HttpJsonResponse>((resolve, reject) => {
    let text: string;
    try {
      text = requestText(req);
    } catch (err) {
      reject(err as Error);
      return;
    }
    req.pool.send(new Exchange(req.where, text, req.timeoutMs, resolve, reject));
  });
}

// An idle connection is closed after this long: under uvicorn's 5 s keep-alive (vLLM, SGLang),
// so it is dropped here before the server drops it (undici's default, kept).
const IDLE_MS = 4000;

/** Up to `connections` keep-alive sockets to one origin; requests beyond that wait in order. */
export class HttpPool {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** Idle connections, the most recently used last: taken first, as the least likely to have been closed by the server. */
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();
  private readonly queue: Exchange[] = [];
  /** "METHOD path" -> the request line and host header, built once. */
  private readonly heads = new Map<string, string>();
  private readonly hostHeader: string;
  private readonly sweeper: NodeJS.Timeout;
  closed = false;
  /** Requests sent again after a reused connection died before answering (the keep-alive race). */
  resent = 0;

  constructor(origin: string, readonly connections: number, readonly tlsOptions: ConnectionOptions | undefined) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new VrdataError('openai', `"${origin}" is not a URL; give e.g. http://127.0.0.1:8000.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new VrdataError('openai', `${origin}: only http:// and https:// endpoints are supported.`);
    if (!(connections >= 1)) throw new VrdataError('openai', `${origin}: the connection limit must be at least 1, not ${connections}.`);
    this.secure = url.protocol === 'https:';
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // IPv6 literals come bracketed
    this.port = Number(url.port) || (this.secure ? 443 : 80);
    this.hostHeader = url.host;
    this.sweeper = setInterval(() => this.sweep(), 1000).unref();
  }

  /** The request line and host header for `method path`. */
  head(method: string, path: string): string {
    const key = `${method} ${path}`;
    let head = this.heads.get(key);
    if (head === undefined) {
      if (!/^\/[^\s]*$/.test(path)) throw new VrdataError('openai', `the request path ${JSON.stringify(path)} must start with / and have no spaces.`);
      head = `${key} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n`;
      this.heads.set(key, head);
    }
    return head;
  }

  /** Sends on an idle connection, a new one, or queues until one is free. */
  send(ex: Exchange): void {
    if (this.closed) return ex.fail(closedError(ex.where));
    let conn: Connection | undefined;
    while ((conn = this.idle.pop())) {
      if (Date.now() - conn.idleSince <= IDLE_MS) return conn.start(ex);
      conn.retire();
    }
    if (this.open.size < this.connections) return this.connect().start(ex);
    this.queue.push(ex);
  }

  /** A connection finished an answer and may carry another. */
  release(conn: Connection): void {
    const next = this.nextQueued();
    if (next) return conn.start(next);
    conn.idleSince = Date.now();
    this.idle.push(conn);
  }

  /** A connection is gone (closed, failed, timed out): its place goes to the first queued request. */
  drop(conn: Connection): void {
    this.open.delete(conn);
    const i = this.idle.lastIndexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.closed) return;
    const next = this.nextQueued();
    if (next) this.connect().start(next);
  }

  /** Destroys every connection; requests in flight or queued fail for good (not retried). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    for (const ex of this.queue.splice(0)) ex.fail(closedError(ex.where));
    for (const conn of [...this.open]) {
      const ex = conn.exchange;
      conn.exchange = undefined;
      conn.retire();
      ex?.fail(closedError(ex.where));
    }
  }

  private nextQueued(): Exchange | undefined {
    let next: Exchange | undefined;
    // Requests that timed out while queued are skipped.
    while ((next = this.queue.shift()) && next.settled);
    return next;
  }

  private connect(): Connection {
    const conn = new Connection(this);
    this.open.add(conn);
    return conn;
  }

  /** Closes connections idle past IDLE_MS (the oldest are at the front). */
  private sweep(): void {
    const now = Date.now();
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince > IDLE_MS) this.idle[0]!.retire();
  }
}

/** One socket, carrying one exchange at a time. */
class Connection {
  readonly socket: Socket;
  readonly parser = new ResponseParser();
  exchange: Exchange | undefined;
  /** Answers completed here: a reused connection that dies before answering was most likely closed by the server while idle. */
  served = 0;
  idleSince = 0;
  private retired = false;

  constructor(private readonly pool: HttpPool) {
    const { host, port } = pool;
    this.socket = pool.secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...pool.tlsOptions })
      : net.connect({ host, port });
    this.socket.setNoDelay(true);
    // Idle sockets must not keep a finished process alive; a request in flight is held by its timer.
    this.socket.unref();
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err: Error) => this.lost(err));
    this.socket.on('close', () => this.lost(undefined));
  }

  start(ex: Exchange): void {
    this.exchange = ex;
    ex.connection = this;
    this.socket.write(ex.text);
  }

  /** Closes the socket and gives its place back to the pool (once). */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.socket.destroy();
    this.pool.drop(this);
  }

  private onData(chunk: Buffer): void {
    const ex = this.exchange;
    // Bytes nobody asked for: what this connection carries next cannot be trusted.
    if (!ex) return this.retire();
    let end: number;
    try {
      end = this.parser.feed(chunk);
    } catch (err) {
      this.exchange = undefined;
      this.retire();
      if (!(err instanceof HttpParseError)) throw err;
      return ex.fail(new VrdataError('openai', `${ex.where}: the answer is not HTTP/1.1 (${err.message}). Check that the endpoint is an HTTP server.`));
    }
    if (end < 0) return;
    this.exchange = undefined;
    const res = this.parser.take();
    // Bytes past the answer (nothing was pipelined) mean a confused server: do not reuse.
    if (res.keepAlive && end === chunk.length) {
      this.served++;
      this.pool.release(this);
    } else this.retire();
    ex.done(res);
  }

  private onEnd(): void {
    const ex = this.exchange;
    if (ex && this.parser.finish()) {
      // A body without length or chunks ends with the connection.
      this.exchange = undefined;
      const res = this.parser.take();
      this.retire();
      ex.done(res);
    } else this.lost(undefined);
  }

  private lost(err: Error | undefined): void {
    const ex = this.exchange;
    this.exchange = undefined;
    const { served, parser } = this;
    this.retire();
    if (!ex || ex.settled) return;
    // The keep-alive race: the server closed this idle connection just as the request went out,
    // and nothing came back. Every request here may be sent twice (generation is seeded, scoring
    // and tokenizing pure), so it goes out again; each such retry uses up one stale connection.
    if (served > 0 && !parser.gotBytes && (err === undefined || RESET_CODES.has(errorCode(err)))) {
      this.pool.resent++;
      return this.pool.send(ex);
    }
    ex.fail(transportError(err, ex.where, parser.headed ? 'truncated' : 'reset'));
  }
}

/** One request: its bytes, its deadline and its promise. */
class Exchange {
  settled = false;
  connection: Connection | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly where: string,
    readonly text: string,
    private readonly timeoutMs: number,
    private readonly resolve: (res: HttpJsonResponse) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.timer = setTimeout(() => this.expire(), timeoutMs);
  }

  done(res: HttpResponse): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    try {
      this.resolve({ status: res.status, json: answer(res.status, res.body.toString('utf8'), res.retryAfter, this.where) });
    } catch (err) {
      this.reject(err as Error);
    }
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.reject(err);
  }

  private expire(): void {
    const conn = this.connection;
    // The socket may hold half an answer: it goes, and its place to the next request.
    if (conn && conn.exchange === this) {
      conn.exchange = undefined;
      conn.retire();
    }
    this.fail(new TransientError('timeout', `openai: ${this.where}: no complete answer within ${this.timeoutMs} ms`));
  }
}

const JSON_HEADERS = 'accept: application/json\r\ncontent-type: application/json\r\n';
const GET_HEADERS = 'accept: application/json\r\n';
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** The whole request as one string: one socket write, no buffers. */
function requestText(req: HttpJsonRequest): string {
  const head = req.pool.head(req.method, req.path);
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  const headers = req.headers ? mergeHeaders(body !== undefined, req.headers, req.where) : body === undefined ? GET_HEADERS : JSON_HEADERS;
  if (body === undefined) return `${head}${headers}\r\n`;
  return `${head}${headers}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function mergeHeaders(hasBody: boolean, extra: Record<string, string>, where: string): string {
  const merged: Record<string, string> = hasBody ? { accept: 'application/json', 'content-type': 'application/json' } : { accept: 'application/json' };
  for (const name in extra) merged[name.toLowerCase()] = extra[name]!;
  let text = '';
  for (const name in merged) {
    const value = merged[name]!;
    // A line break in a value would end the header early; the value (the API key) stays out of the message.
    if (!HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) {
      throw new VrdataError('openai', `${where}: the header "${name}" has a character HTTP does not allow; check its value (for the API key: its environment variable).`);
    }
    text += `${name}: ${value}\r\n`;
  }
  return text;
}

/** The JSON of a complete answer, or the error its status calls for. */
function answer(status: number, text: string, retryAfter: string | undefined, where: string): unknown {
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

// Errors a retry (maybe on another endpoint) can fix: the connection failed or went away.
const RESET_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'EHOSTDOWN', 'EAI_AGAIN', 'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** The error's code; for a connection tried on several addresses (AggregateError), the first attempt's. */
function errorCode(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code) return code;
  const first = (err as Partial<AggregateError>).errors?.[0] as NodeJS.ErrnoException | undefined;
  return first?.code ?? '';
}

/** Sorts a transport failure: connection trouble is transient (`kind`), anything else (DNS, TLS, bad URL) final. */
function transportError(err: Error | undefined, where: string, kind: 'reset' | 'truncated'): Error {
  const cut = kind === 'truncated' ? 'the response body was cut off' : 'the server closed the connection without answering';
  if (!err) return new TransientError(kind, `openai: ${where}: ${cut}`);
  if (RESET_CODES.has(errorCode(err))) {
    return new TransientError(kind, `openai: ${where}: ${kind === 'truncated' ? `${cut}: ` : ''}${err.message}`, { cause: err });
  }
  return new VrdataError('openai', `${where}: ${err.message}. Check the endpoint URL.`, { cause: err });
}

function closedError(where: string): VrdataError {
  return new VrdataError('openai', `${where}: the engine was closed while this request was in flight.`);
}

function snippet(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
