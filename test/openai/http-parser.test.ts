/**
 * The client's HTTP/1.1 response parser on its own: every framing (Content-Length, chunked,
 * read to the close), bytes split at every place and one at a time, several responses in one
 * chunk, interim 1xx answers, and malformed input rejected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpParseError, ResponseParser, type HttpResponse } from '../../src/engines/openai/http-parser.js';

/** Feeds `pieces` in order and returns every response completed, with the bytes left over after the last. */
function parse(pieces: Buffer[], parser = new ResponseParser()): { responses: HttpResponse[]; parser: ResponseParser } {
  const responses: HttpResponse[] = [];
  for (const piece of pieces) {
    let at = 0;
    while (at < piece.length) {
      const end = parser.feed(piece, at);
      if (end < 0) break;
      responses.push(parser.take());
      at = end;
    }
  }
  return { responses, parser };
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const oneByOne = (s: string): Buffer[] => [...bytes(s)].map((b) => Buffer.from([b]));
/** `s` split in two at every position. */
const splits = (s: string): Buffer[][] => Array.from({ length: s.length + 1 }, (_, i) => [bytes(s.slice(0, i)), bytes(s.slice(i))]);
const bodyOf = (r: HttpResponse): string => r.body.toString('utf8');

const LENGTH = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nDate: x\r\n\r\n{"ok":true}';
const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '4\r\n{"ok\r\n' +
  'A;name=value\r\n":[1,2,3]}\r\n' + // an extension, and a hex size past 9
  '0\r\nX-Trailer: 1\r\n\r\n';

test('a Content-Length body, whole, split at every position, and byte by byte', () => {
  for (const pieces of [[bytes(LENGTH)], ...splits(LENGTH), oneByOne(LENGTH)]) {
    const { responses } = parse(pieces);
    assert.equal(responses.length, 1);
    assert.deepEqual({ ...responses[0]!, body: bodyOf(responses[0]!) }, { status: 200, body: '{"ok":true}', keepAlive: true, retryAfter: undefined });
  }
});

test('a chunked body with an extension and a trailer, whole, split at every position, and byte by byte', () => {
  for (const pieces of [[bytes(CHUNKED)], ...splits(CHUNKED), oneByOne(CHUNKED)]) {
    const { responses } = parse(pieces);
    assert.equal(responses.length, 1);
    assert.equal(bodyOf(responses[0]!), '{"ok":[1,2,3]}');
    assert.equal(responses[0]!.keepAlive, true);
  }
});

test('several responses in one chunk come out one after the other, each ending where the next begins', () => {
  const two = `${LENGTH}${CHUNKED}HTTP/1.1 204 No Content\r\n\r\n`;
  const parser = new ResponseParser();
  const chunk = bytes(two);
  const first = parser.feed(chunk);
  assert.equal(first, LENGTH.length);
  assert.equal(bodyOf(parser.take()), '{"ok":true}');
  const second = parser.feed(chunk, first);
  assert.equal(second, LENGTH.length + CHUNKED.length);
  assert.equal(bodyOf(parser.take()), '{"ok":[1,2,3]}');
  assert.equal(parser.feed(chunk, second), chunk.length);
  assert.deepEqual(parser.take().status, 204);
  // And the same three responses given byte by byte.
  assert.deepEqual(parse(oneByOne(two)).responses.map((r) => r.status), [200, 200, 204]);
});

test('a body with neither length nor chunks runs to the close, and the connection is not reused', () => {
  const { responses, parser } = parse([bytes('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"a":'), bytes('1}')]);
  assert.equal(responses.length, 0);
  assert.equal(parser.finish(), true);
  const res = parser.take();
  assert.deepEqual({ body: bodyOf(res), keepAlive: res.keepAlive }, { body: '{"a":1}', keepAlive: false });
});

test('a close before the body is complete is not a response: finish says so, headed tells cut-off from never-answered', () => {
  const cut = parse([bytes('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"')]).parser;
  assert.deepEqual([cut.finish(), cut.headed, cut.gotBytes], [false, true, true]);
  const chunkCut = parse([bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a"')]).parser;
  assert.deepEqual([chunkCut.finish(), chunkCut.headed], [false, true]);
  const halfHead = parse([bytes('HTTP/1.1 200 OK\r\nContent-')]).parser;
  assert.deepEqual([halfHead.finish(), halfHead.headed, halfHead.gotBytes], [false, false, true]);
  const nothing = new ResponseParser();
  assert.deepEqual([nothing.finish(), nothing.headed, nothing.gotBytes], [false, false, false]);
});

test('connection: close, HTTP/1.0, and HTTP/1.0 with keep-alive', () => {
  const keep = (head: string): boolean => parse([bytes(`${head}\r\nContent-Length: 2\r\n\r\n{}`)]).responses[0]!.keepAlive;
  assert.equal(keep('HTTP/1.1 200 OK\r\nConnection: close'), false);
  assert.equal(keep('HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Upgrade'), true);
  assert.equal(keep('HTTP/1.0 200 OK'), false);
  assert.equal(keep('HTTP/1.0 200 OK\r\nconnection: keep-alive'), true);
});

test('interim 1xx answers are skipped; Retry-After is kept; a status line without a reason is accepted', () => {
  const text = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 429\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}';
  for (const pieces of [[bytes(text)], oneByOne(text)]) {
    const { responses } = parse(pieces);
    assert.equal(responses.length, 1);
    assert.deepEqual([responses[0]!.status, responses[0]!.retryAfter, bodyOf(responses[0]!)], [429, '7', '{}']);
  }
});

test('a UTF-8 body split inside a multi-byte character comes out whole', () => {
  const body = Buffer.from('{"text":"é🙂"}');
  const head = bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
  const all = Buffer.concat([head, body]);
  for (let i = head.length; i < all.length; i++) {
    const { responses } = parse([all.subarray(0, i), all.subarray(i)]);
    assert.equal(bodyOf(responses[0]!), '{"text":"é🙂"}');
  }
});

test('malformed responses are HttpParseErrors', () => {
  const bad = [
    'HTTP/2 200 OK\r\n\r\n',
    'SSH-2.0-OpenSSH_9.6\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}}\r\n0\r\n\r\n',
    'HTTP/1.1 101 Switching Protocols\r\n\r\n',
  ];
  for (const text of bad) assert.throws(() => parse([bytes(text)]), HttpParseError, JSON.stringify(text));
  // A head that never ends is cut off rather than buffered forever.
  assert.throws(() => parse([bytes(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`)]), HttpParseError);
});
