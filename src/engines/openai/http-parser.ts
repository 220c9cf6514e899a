/**
 * An incremental HTTP/1.1 response parser for the openai engine's client (http.ts): status
 * line, the few headers the client acts on (content-length, transfer-encoding, connection,
 * retry-after), and the body framed by Content-Length, by chunked encoding, or by the close.
 * Bytes may arrive split anywhere (one at a time included); interim 1xx answers are skipped.
 * Bodies are kept as views of the chunks fed in, so a chunk must not be reused after `feed`.
 */

/** A complete response. */
export interface HttpResponse {
  status: number;
  /** The body's bytes, chunked framing removed. */
  body: Buffer;
  /** Whether the connection may carry another request (no `connection: close`, HTTP/1.1 or keep-alive, framed body). */
  keepAlive: boolean;
  /** The raw Retry-After value, when sent. */
  retryAfter: string | undefined;
}

/** The bytes are not an HTTP/1.x response. */
export class HttpParseError extends Error {
  override readonly name = 'HttpParseError';
}

// Where the parser is. Numbers rather than strings: the switch runs per byte in chunked bodies.
const HEAD = 0;
const LENGTH = 1; // body of `remaining` bytes
const TO_CLOSE = 2; // body runs until the server closes
const CHUNK_SIZE = 3;
const CHUNK_EXT = 4; // a chunk extension, ignored up to the line's end
const CHUNK_SIZE_LF = 5;
const CHUNK_DATA = 6;
const CHUNK_DATA_CR = 7;
const CHUNK_DATA_LF = 8;
const TRAILER = 9;
const DONE = 10;

const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;
// 2^40 bytes: far past any JSON answer, and safe from overflow while hex digits accumulate.
const MAX_CHUNK = 2 ** 40;
const EMPTY = Buffer.alloc(0);

export class ResponseParser {
  private phase = HEAD;
  /** Header bytes of a head split across chunks. */
  private partialHead: Buffer | undefined;
  private status = 0;
  private keepAlive = true;
  private retryAfter: string | undefined;
  /** Bytes still to come of the body (LENGTH) or of the current chunk (CHUNK_DATA). */
  private remaining = 0;
  private sizeDigits = 0;
  /** Bytes on the current trailer line (0: an empty line ends the trailers). */
  private trailerLine = 0;
  private parts: Buffer[] = [];
  /** Whether any byte of the current response (or of an interim one before it) has arrived. */
  gotBytes = false;

  /** Whether the status line and headers of the final response are in (a close after that cuts the body). */
  get headed(): boolean {
    return this.phase !== HEAD;
  }

  /**
   * Parses `chunk` from `start`. Returns the offset just past the response when it is complete
   * (then call `take`), or -1 when every byte was used and more are needed. Throws HttpParseError.
   */
  feed(chunk: Buffer, start = 0): number {
    const n = chunk.length;
    let at = start;
    if (at < n) this.gotBytes = true;
    for (;;) {
      switch (this.phase) {
        case HEAD:
          if (at >= n) return -1;
          at = this.readHead(chunk, at);
          if (at < 0) return -1;
          break;
        case LENGTH:
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, n - at);
          if (take > 0) {
            this.parts.push(chunk.subarray(at, at + take));
            at += take;
            this.remaining -= take;
          }
          if (this.remaining > 0) return -1;
          this.phase = this.phase === LENGTH ? DONE : CHUNK_DATA_CR;
          break;
        }
        case TO_CLOSE:
          if (at < n) this.parts.push(chunk.subarray(at));
          return -1;
        case DONE:
          return at;
        default:
          // The byte-wise parts of chunked framing.
          if (at >= n) return -1;
          this.chunkByte(chunk[at]!);
          at++;
      }
    }
  }

  /**
   * The connection closed: returns true when that ends the response (a body read to the close),
   * false when the response is cut short or never began.
   */
  finish(): boolean {
    if (this.phase !== TO_CLOSE) return false;
    this.phase = DONE;
    return true;
  }

  /** The complete response; the parser is then ready for the next one. */
  take(): HttpResponse {
    const parts = this.parts;
    const res: HttpResponse = {
      status: this.status,
      body: parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts),
      keepAlive: this.keepAlive,
      retryAfter: this.retryAfter,
    };
    this.phase = HEAD;
    this.parts = [];
    this.status = 0;
    this.keepAlive = true;
    this.retryAfter = undefined;
    this.gotBytes = false;
    return res;
  }

  /** Reads a head from `at`; returns the offset after its blank line, or -1 (bytes kept) when it is incomplete. */
  private readHead(chunk: Buffer, at: number): number {
    const stash = this.partialHead;
    let buf = chunk;
    let from = at;
    let searchFrom = at;
    if (stash) {
      buf = Buffer.concat([stash, chunk.subarray(at)]);
      from = 0;
      // The blank line may straddle the two pieces.
      searchFrom = Math.max(0, stash.length - 3);
    }
    const end = buf.indexOf(HEAD_END, searchFrom);
    if (end < 0) {
      if (buf.length - from > MAX_HEAD) throw new HttpParseError('the response head exceeds 64 KiB');
      this.partialHead = buf.subarray(from);
      return -1;
    }
    this.partialHead = undefined;
    this.parseHead(buf.toString('latin1', from, end));
    const next = end + HEAD_END.length;
    return stash ? at + next - stash.length : next;
  }

  private parseHead(head: string): void {
    let lineEnd = head.indexOf('\r\n');
    if (lineEnd < 0) lineEnd = head.length;
    // "HTTP/1.1 200 OK": the reason phrase is optional.
    if (!/^HTTP\/1\.[01] \d{3}(?: |$)/.test(head.slice(0, lineEnd))) {
      throw new HttpParseError(`bad status line ${JSON.stringify(head.slice(0, Math.min(lineEnd, 80)))}`);
    }
    const status = Number(head.slice(9, 12));
    let keepAlive = head.charCodeAt(7) === 0x31; // HTTP/1.1 keeps the connection unless told otherwise
    let length = -1;
    let chunked = false;
    let encoded = false;
    let retryAfter: string | undefined;
    for (let start = lineEnd + 2; start < head.length; ) {
      let end = head.indexOf('\r\n', start);
      if (end < 0) end = head.length;
      const colon = head.indexOf(':', start);
      const nameLength = colon - start;
      // Only names of the lengths of those wanted are lower-cased and compared.
      if (colon > 0 && colon < end && (nameLength === 10 || nameLength === 11 || nameLength === 14 || nameLength === 17)) {
        const name = head.slice(start, colon).toLowerCase();
        const value = head.slice(colon + 1, end).trim();
        if (name === 'content-length') {
          if (!/^\d+$/.test(value)) throw new HttpParseError(`bad content-length ${JSON.stringify(value)}`);
          const v = Number(value);
          if (length >= 0 && v !== length) throw new HttpParseError('two different content-length headers');
          length = v;
        } else if (name === 'transfer-encoding') {
          encoded = true;
          // Chunked must be the last coding; anything else can only be read to the close.
          chunked = /(?:^|,)\s*chunked$/i.test(value);
        } else if (name === 'connection') {
          const v = value.toLowerCase();
          if (/(?:^|,)\s*close\s*(?:,|$)/.test(v)) keepAlive = false;
          else if (/(?:^|,)\s*keep-alive\s*(?:,|$)/.test(v)) keepAlive = true;
        } else if (name === 'retry-after') {
          retryAfter = value;
        }
      }
      start = end + 2;
    }
    if (status < 200) {
      // 100 Continue, 103 Early Hints: the real answer follows. 101 would switch protocols, never asked for.
      if (status === 101) throw new HttpParseError('101 Switching Protocols was not asked for');
      return;
    }
    this.status = status;
    this.retryAfter = retryAfter;
    this.keepAlive = keepAlive;
    if (status === 204 || status === 304) this.phase = DONE;
    else if (chunked) {
      this.phase = CHUNK_SIZE;
      this.remaining = 0;
      this.sizeDigits = 0;
    } else if (encoded || length < 0) {
      this.phase = TO_CLOSE;
      this.keepAlive = false;
    } else if (length === 0) this.phase = DONE;
    else {
      this.phase = LENGTH;
      this.remaining = length;
    }
  }

  /** One byte of chunked framing: a size line, the CRLF after a chunk's data, or the trailers. */
  private chunkByte(c: number): void {
    switch (this.phase) {
      case CHUNK_SIZE: {
        const digit = hexValue(c);
        if (digit >= 0) {
          this.remaining = this.remaining * 16 + digit;
          if (this.remaining > MAX_CHUNK) throw new HttpParseError('a chunk size is too large');
          this.sizeDigits++;
        } else if (c === 0x3b /* ; */) this.phase = CHUNK_EXT;
        else if (c === 0x0d) this.phase = CHUNK_SIZE_LF;
        else if (c !== 0x20 && c !== 0x09) throw new HttpParseError(`bad byte 0x${c.toString(16)} in a chunk size`);
        return;
      }
      case CHUNK_EXT:
        if (c === 0x0d) this.phase = CHUNK_SIZE_LF;
        return;
      case CHUNK_SIZE_LF:
        if (c !== 0x0a) throw new HttpParseError('a chunk size line does not end in CRLF');
        this.sizeLineDone();
        return;
      case CHUNK_DATA_CR:
        if (c === 0x0d) this.phase = CHUNK_DATA_LF;
        else throw new HttpParseError('chunk data runs past its size');
        return;
      case CHUNK_DATA_LF:
        if (c !== 0x0a) throw new HttpParseError('chunk data runs past its size');
        this.phase = CHUNK_SIZE;
        return;
      case TRAILER:
        if (c === 0x0a) {
          if (this.trailerLine === 0) this.phase = DONE;
          this.trailerLine = 0;
        } else if (c !== 0x0d) this.trailerLine++;
        return;
    }
  }

  private sizeLineDone(): void {
    if (this.sizeDigits === 0) throw new HttpParseError('a chunk size line has no size');
    this.sizeDigits = 0;
    if (this.remaining === 0) {
      this.phase = TRAILER;
      this.trailerLine = 0;
    } else this.phase = CHUNK_DATA;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
