/**
 * The HTTP transport alone, against real loopback servers that misbehave in one way each:
 * every failure lands in the right class (transient kind or final), keep-alive reuses
 * connections, and the pool never opens more connections than its limit. Framing the
 * parser must get right on the wire (chunks, a dribbled body, read to the close), the
 * keep-alive race, TLS, and idle sockets that let a finished process exit are tested too;
 * the parser alone in http-parser.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpJson, openPool, parseRetryAfter, type HttpPool } from '../../src/engines/openai/http.js';
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
  closers.push(() => p.close());
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
  // A connection is back in the pool before its answer is handed over, so one carries them all.
  assert.equal(s.sockets(), 1, `${s.sockets()} connections for 10 sequential requests`);
  await Promise.all(Array.from({ length: 24 }, one));
  assert.ok(s.sockets() <= 3, `${s.sockets()} connections for a limit of 3`);
});

test('a request in flight when the pool is destroyed fails for good, not as a retryable error', async () => {
  const s = await server((req) => req.resume());
  const p = openPool(s.origin, 1);
  const pending = httpJson({ pool: p, where: 'closing', path: '/', method: 'POST', body: {}, timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 50));
  await p.close();
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

/**
 * A bare TCP server that reads requests (head and Content-Length body) and lets `respond` write
 * any bytes back: `nth` counts requests on that socket from 1. Counts sockets and requests.
 */
async function rawServer(respond: (socket: net.Socket, nth: number) => void): Promise<{ origin: string; sockets: () => number; requests: () => number }> {
  let sockets = 0;
  let requests = 0;
  const s = net.createServer((socket) => {
    sockets++;
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    let nth = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(pending.subarray(0, end).toString())?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        requests++;
        respond(socket, ++nth);
      }
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const open = new Set<net.Socket>();
  s.on('connection', (c) => { open.add(c); c.on('close', () => open.delete(c)); });
  closers.push(() => new Promise<void>((r) => { for (const c of open) c.destroy(); s.close(() => r()); }));
  return { origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, sockets: () => sockets, requests: () => requests };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (p: HttpPool, timeoutMs = 2000) => httpJson({ pool: p, where: 'GET test', path: '/x', method: 'GET', timeoutMs });

test('a chunked answer written in several pieces, and one dribbled a byte at a time, arrive whole', async () => {
  const body = JSON.stringify({ text: 'é🙂'.repeat(50), n: 7 });
  const s = await rawServer((socket, nth) => {
    if (nth === 1) {
      // Chunked, each chunk its own TCP write, with a pause between.
      const parts = [body.slice(0, 10), body.slice(10, 60), body.slice(60)];
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
      void (async () => {
        for (const part of parts) {
          await sleep(5);
          socket.write(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
        }
        await sleep(5);
        socket.write('0\r\n\r\n');
      })();
    } else {
      // Head and body one byte per write: the client sees many small TCP chunks.
      const bytes = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      void (async () => {
        for (let i = 0; i < bytes.length; i++) {
          socket.write(bytes.subarray(i, i + 1));
          if (i % 8 === 0) await sleep(0);
        }
      })();
    }
  });
  const p = pool(s.origin, 1);
  assert.deepEqual((await get(p)).json, JSON.parse(body));
  assert.deepEqual((await get(p)).json, JSON.parse(body));
  assert.equal(s.sockets(), 1, 'both answers on one kept-alive connection');
});

test('connection: close and a body read to the close: the answer is used, the next request opens a new connection', async () => {
  const s = await rawServer((socket, nth) => {
    if (nth > 1) return void socket.destroy();
    if (s.sockets() === 1) socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 7\r\n\r\n{"a":1}');
    else socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"b":2}'); // no length: ends with the close
  });
  const p = pool(s.origin, 1);
  assert.deepEqual((await get(p)).json, { a: 1 });
  assert.deepEqual((await get(p)).json, { b: 2 });
  assert.equal(s.sockets(), 2);
});

test('an idle connection the server closed is not reused; one closed as the request went out is sent again on a new one', async () => {
  const answer = (socket: net.Socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{"ok":1}');
  // 1. The server closes connections 20 ms after each answer; the client waits longer, then asks again.
  const closing = await rawServer((socket) => {
    answer(socket);
    setTimeout(() => socket.end(), 20);
  });
  const p1 = pool(closing.origin, 1);
  await get(p1);
  await sleep(100);
  assert.deepEqual((await get(p1)).json, { ok: 1 });
  assert.equal(closing.sockets(), 2);
  // 2. The race itself: the server drops the connection on its second request without a byte back,
  //    as a server does when its keep-alive timer fires while the request is on the wire.
  const racing = await rawServer((socket, nth) => (nth === 1 ? answer(socket) : socket.destroy()));
  const p2 = pool(racing.origin, 1);
  await get(p2);
  assert.deepEqual((await get(p2)).json, { ok: 1 });
  assert.deepEqual({ sockets: racing.sockets(), requests: racing.requests(), resent: p2.resent }, { sockets: 2, requests: 3, resent: 1 });
  // 3. On a new connection the same drop is a reset for the caller's retries, not sent again here.
  const dropping = await rawServer((socket) => socket.destroy());
  const fresh = await thrown(get(pool(dropping.origin, 1)));
  assert.ok(fresh instanceof TransientError && fresh.kind === 'reset', String(fresh));
  assert.equal(dropping.requests(), 1);
});

test('bytes past a complete answer (nothing was pipelined) retire the connection', async () => {
  const s = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}'));
  const p = pool(s.origin, 1);
  assert.deepEqual((await get(p)).json, {});
  assert.deepEqual((await get(p)).json, {});
  assert.equal(s.sockets(), 2);
});

test('an answer that is not HTTP fails for good', async () => {
  const s = await rawServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
  const e = await thrown(get(pool(s.origin, 1)));
  assert.ok(e instanceof VrdataError && !(e instanceof TransientError), String(e));
  assert.match(e.message, /not HTTP\/1\.1/);
});

test('a chunked body cut mid-chunk is truncated; a head cut short is a reset', async () => {
  const s = await rawServer((socket, nth) => {
    const first = s.sockets() === 1 && nth === 1;
    socket.end(first ? 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{"cho' : 'HTTP/1.1 200 OK\r\ncontent-le');
  });
  const cut = await thrown(get(pool(s.origin, 1)));
  assert.ok(cut instanceof TransientError && cut.kind === 'truncated', String(cut));
  const head = await thrown(get(pool(s.origin, 1)));
  assert.ok(head instanceof TransientError && head.kind === 'reset', String(head));
});

test('429 with an HTTP-date Retry-After on the wire', async () => {
  const when = new Date(Date.now() + 60_000).toUTCString();
  const s = await rawServer((socket) => socket.write(`HTTP/1.1 429 Too Many Requests\r\nretry-after: ${when}\r\ncontent-length: 2\r\n\r\n{}`));
  const e = await thrown(get(pool(s.origin, 1)));
  assert.ok(e instanceof TransientError && e.kind === 'rate-limit', String(e));
  assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs > 50_000 && e.retryAfterMs <= 60_000, String(e.retryAfterMs));
});

test('a header value with a line break is refused before anything is sent, without the value in the message', async () => {
  const s = await rawServer((socket) => socket.destroy());
  const e = await thrown(post(s.origin, 2000, { authorization: 'Bearer sk-secret\r\nx-injected: 1' }));
  assert.ok(e instanceof VrdataError && !(e instanceof TransientError), String(e));
  assert.ok(!e.message.includes('sk-secret'));
  assert.equal(s.requests(), 0);
});

const openssl = spawnSync('openssl', ['version']).status === 0;

test('https: JSON over TLS with a self-signed certificate made now; without trusting it the failure is final', { skip: !openssl && 'openssl is not installed, so no certificate can be made for a TLS server' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vrdata-tls-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const made = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ]);
  assert.equal(made.status, 0, String(made.stderr));
  const cert = await readFile(join(dir, 'cert.pem'));
  const s = https.createServer({ key: await readFile(join(dir, 'key.pem')), cert }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tls: true, path: req.url })));
  });
  let sockets = 0;
  s.on('secureConnection', () => sockets++);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); }));
  const port = (s.address() as AddressInfo).port;
  for (const host of ['127.0.0.1', 'localhost']) {
    const p = openPool(`https://${host}:${port}`, 2, { ca: cert });
    closers.push(() => p.close());
    for (let i = 0; i < 3; i++) assert.deepEqual((await get(p)).json, { tls: true, path: '/x' });
  }
  assert.ok(sockets <= 2, `${sockets} TLS connections for 3 sequential requests on each of 2 pools`);
  const untrusted = await thrown(get(pool(`https://127.0.0.1:${port}`, 1)));
  assert.ok(untrusted instanceof VrdataError && !(untrusted instanceof TransientError), String(untrusted));
});

test('idle connections do not keep a finished process alive', async () => {
  // The raw server never closes an idle connection, so only the client's unref lets the child exit.
  const s = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"ok":true}'));
  // A child that makes one request and never closes its pool: nothing of the pool may hold its event loop.
  const code = `
    const { openPool, httpJson } = await import(${JSON.stringify(new URL('../../src/engines/openai/http.ts', import.meta.url).href)});
    const pool = openPool(${JSON.stringify(s.origin)}, 2);
    const res = await httpJson({ pool, where: 'child', path: '/', method: 'GET', timeoutMs: 5000 });
    console.log(JSON.stringify({ json: res.json, holding: process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout') }));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  // A guard against a hang, not a timing assertion.
  const guard = setTimeout(() => child.kill(), 30_000);
  const exit = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(guard);
  assert.equal(exit, 0, 'the child was killed: something kept it alive');
  assert.deepEqual(JSON.parse(out), { json: { ok: true }, holding: [] });
  assert.equal(s.sockets(), 1);
});
