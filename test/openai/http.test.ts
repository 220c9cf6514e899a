/**
 * The HTTP transport alone, against real loopback servers that misbehave in one way each:
 * every failure lands in the right class (transient kind or final), keep-alive reuses
 * connections, and the pool never opens more connections than its limit.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpJson, openPool, parseRetryAfter } from '../../src/engines/openai/http.js';
import { TransientError } from '../../src/engines/ratelimit.js';
import { VrdataError } from '../../src/util/errors.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

/** A server whose every request is answered by `handler`; counts the sockets it accepted. */
async function server(handler: http.RequestListener): Promise<{ origin: string; sockets: () => number }> {
  let sockets = 0;
  const s = http.createServer(handler);
  s.on('connection', () => sockets++);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); }));
  return { origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, sockets: () => sockets };
}

function pool(origin: string, connections = 4) {
  const p = openPool(origin, connections);
  closers.push(() => p.destroy());
  return p;
}

const post = (origin: string, timeoutMs = 2000, headers?: Record<string, string>) =>
  httpJson({ pool: pool(origin), where: `POST ${origin}/v1/completions`, path: '/v1/completions', method: 'POST', body: { prompt: 'x' }, headers, timeoutMs });

/** Resolves with what `p` threw (failing the test when it did not throw). */
async function thrown(p: Promise<unknown>): Promise<Error> {
  return p.then(() => assert.fail('expected a failure'), (e: unknown) => e as Error);
}

test('a 2xx JSON answer resolves with the body; the request carries JSON headers and the body', async () => {
  let seen: { method?: string; type?: string; body?: string } = {};
  const s = await server((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      seen = { method: req.method, type: req.headers['content-type'], body };
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  assert.deepEqual(await post(s.origin), { status: 200, json: { ok: true } });
  assert.deepEqual(seen, { method: 'POST', type: 'application/json', body: '{"prompt":"x"}' });
});

test('429 is a rate-limit with its Retry-After, 5xx a status error, other 4xx final without the key', async () => {
  const secret = 'sk-http-test-secret';
  const s = await server((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/v1/completions' && req.headers.authorization === `Bearer ${secret}`) {
        const n = Number(req.headers['x-case']);
        if (n === 429) return void res.writeHead(429, { 'retry-after': '2' }).end('{}');
        if (n === 503) return void res.writeHead(503).end('{"error":"overloaded"}');
      }
      res.writeHead(404).end('{"error":{"message":"no such model"}}');
    });
  });
  const call = (c: number) => post(s.origin, 2000, { authorization: `Bearer ${secret}`, 'x-case': String(c) });
  const limited = await thrown(call(429));
  assert.ok(limited instanceof TransientError && limited.kind === 'rate-limit' && limited.retryAfterMs === 2000, String(limited));
  const busy = await thrown(call(503));
  assert.ok(busy instanceof TransientError && busy.kind === 'status' && busy.status === 503, String(busy));
  const missing = await thrown(call(404));
  assert.ok(missing instanceof VrdataError && !(missing instanceof TransientError), String(missing));
  assert.match(missing.message, /^openai: POST .* answered HTTP 404: .*no such model/);
  for (const e of [limited, busy, missing]) assert.ok(!`${e.message}${e.stack}`.includes(secret));
});

test('a dropped connection and a refused one are resets', async () => {
  const s = await server((req) => req.on('data', () => {}).on('end', () => req.socket.destroy()));
  const dropped = await thrown(post(s.origin));
  assert.ok(dropped instanceof TransientError && dropped.kind === 'reset', String(dropped));
  // Port 9 (discard) has no listener on loopback here: the connection is refused.
  const refused = await thrown(post('http://127.0.0.1:9'));
  assert.ok(refused instanceof TransientError && refused.kind === 'reset', String(refused));
});

test('bodies cut short are truncated: under Content-Length and chunked', async () => {
  const s = await server((req, res) => {
    req.resume();
    req.on('end', () => {
      const mode = req.headers['x-mode'];
      if (mode === 'length') res.writeHead(200, { 'content-length': 100 }).write('{"choices":');
      else res.writeHead(200).write('{"choices":');
      setTimeout(() => req.socket.destroy(), 20);
    });
  });
  for (const mode of ['length', 'chunked']) {
    const e = await thrown(post(s.origin, 2000, { 'x-mode': mode }));
    assert.ok(e instanceof TransientError && e.kind === 'truncated', `${mode}: ${String(e)}`);
  }
});

test('a body that is complete but not JSON is retried as truncated', async () => {
  const s = await server((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [1, 2'));
  });
  const e = await thrown(post(s.origin));
  assert.ok(e instanceof TransientError && e.kind === 'truncated', String(e));
});

test('an answer that stalls past the timeout fails as a timeout, on time, and frees its connection', async () => {
  const s = await server((req, res) => {
    req.resume();
    if (req.headers['x-stall']) return; // never answers
    req.on('end', () => res.writeHead(200).end('{"late":false}'));
  });
  const p = pool(s.origin, 1);
  const t0 = performance.now();
  const e = await thrown(httpJson({ pool: p, where: 'stall', path: '/', method: 'POST', body: {}, headers: { 'x-stall': '1' }, timeoutMs: 150 }));
  const waited = performance.now() - t0;
  assert.ok(e instanceof TransientError && e.kind === 'timeout', String(e));
  assert.match(e.message, /within 150 ms/);
  assert.ok(waited >= 140, `gave up after ${waited} ms`);
  // The pool's only connection must not stay stuck behind the stalled request.
  assert.deepEqual((await httpJson({ pool: p, where: 'after', path: '/', method: 'GET', timeoutMs: 2000 })).json, { late: false });
});

test('keep-alive reuses connections, and the pool opens at most its limit', async () => {
  const s = await server((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"n":1}'), 5));
  });
  const p = pool(s.origin, 3);
  const one = () => httpJson({ pool: p, where: 'ka', path: '/', method: 'POST', body: {}, timeoutMs: 2000 });
  for (let i = 0; i < 10; i++) await one();
  // undici marks a connection free just after the answer is handed over, so the very next
  // request may open a second one; after that the two are reused.
  assert.ok(s.sockets() <= 2, `${s.sockets()} connections for 10 sequential requests`);
  await Promise.all(Array.from({ length: 24 }, one));
  assert.ok(s.sockets() <= 3, `${s.sockets()} connections for a limit of 3`);
});

test('a request in flight when the pool is destroyed fails for good, not as a retryable error', async () => {
  const s = await server((req) => req.resume());
  const p = openPool(s.origin, 1);
  const pending = httpJson({ pool: p, where: 'closing', path: '/', method: 'POST', body: {}, timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 50));
  await p.destroy();
  const e = await thrown(pending);
  assert.ok(e instanceof VrdataError && !(e instanceof TransientError), String(e));
});

test('Retry-After as seconds, as an HTTP date, and absent', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(['1', '9']), 1000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
});
