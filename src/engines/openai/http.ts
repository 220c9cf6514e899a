/**
 * One JSON request over node:http(s) with keep-alive, a hard timeout, and errors sorted into
 * transient (retry: 429, 5xx, resets, timeouts, truncated bodies) and final (other 4xx, bad JSON
 * in a complete body). Headers passed in (the API key) are never put into error messages.
 */
import http from 'node:http';
import https from 'node:https';
import { TransientError } from '../ratelimit.js';
import { VrdataError } from '../../util/errors.js';

export interface HttpJsonRequest {
  url: URL;
  method: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs: number;
  agent?: http.Agent;
}

export interface HttpJsonResponse {
  status: number;
  json: unknown;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

const RESET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/**
 * Sends one request and resolves with the parsed JSON of a 2xx answer. Throws TransientError
 * for what a retry may fix and VrdataError('openai') for what it will not.
 */
export function httpJson(req: HttpJsonRequest): Promise<HttpJsonResponse> {
  const where = `${req.method} ${req.url.origin}${req.url.pathname}`;
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const lib = req.url.protocol === 'https:' ? https : http;
  return new Promise<HttpJsonResponse>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(err);
    };
    const headers: Record<string, string | number> = { accept: 'application/json', ...(req.headers ?? {}) };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    const request = lib.request(req.url, { method: req.method, headers, agent: req.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => fail(new TransientError('truncated', `openai: ${where}: the response body was cut off`)));
      res.on('error', (err) => fail(new TransientError('reset', `openai: ${where}: ${err.message}`, { cause: err })));
      res.on('end', () => {
        if (settled) return;
        const body = Buffer.concat(chunks);
        const status = res.statusCode ?? 0;
        const expected = Number(res.headers['content-length']);
        if (Number.isFinite(expected) && body.length < expected) {
          return fail(new TransientError('truncated', `openai: ${where}: got ${body.length} of ${expected} body bytes`));
        }
        if (status === 429) {
          return fail(new TransientError('rate-limit', `openai: ${where}: 429 rate limited`, { status, retryAfterMs: parseRetryAfter(res.headers['retry-after']) }));
        }
        if (status >= 500 || status === 408) {
          return fail(new TransientError('status', `openai: ${where}: HTTP ${status} ${snippet(body)}`, { status }));
        }
        if (status < 200 || status >= 300) {
          return fail(new VrdataError('openai', `${where} answered HTTP ${status}: ${snippet(body)}. Check the request options and the server's model and version.`));
        }
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          // Without a Content-Length a cut-off body shows up here; chunked encoding reports it as 'aborted'.
          return fail(new TransientError('truncated', `openai: ${where}: the response is not complete JSON (${body.length} bytes)`));
        }
        settled = true;
        clearTimeout(timer);
        resolve({ status, json });
      });
    });
    const timer = setTimeout(() => fail(new TransientError('timeout', `openai: ${where}: no complete answer within ${req.timeoutMs} ms`)), req.timeoutMs);
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code && !RESET_CODES.has(err.code) && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        return fail(new VrdataError('openai', `${where}: ${err.message}. Check the endpoint URL.`, { cause: err }));
      }
      fail(new TransientError('reset', `openai: ${where}: ${err.message}`, { cause: err }));
    });
    if (payload) request.end(payload);
    else request.end();
  });
}

function snippet(body: Buffer): string {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
