/**
 * An HTTP/1.x response parser for one keep-alive connection, fed the bytes as they arrive. It frames bodies as
 * RFC 9112 §6.3 says (no body for 1xx/204/304, then chunked, then Content-Length, else until the peer closes)
 * and hands out each response whole, its body decoded as UTF-8 (the protocol's answers are small JSON
 * envelopes). Pure: no sockets, tested on its own.
 */

export interface H1Response {
  readonly statusCode: number;
  /** Lower-case names; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  readonly text: string;
  /** False when the peer will close the connection after this response (`Connection: close`, HTTP/1.0). */
  readonly keepAlive: boolean;
}

/** A parsed response; its header record is built on first read (most answers' headers are never read). */
class Response implements H1Response {
  readonly statusCode: number;
  readonly text: string;
  readonly keepAlive: boolean;
  readonly #lines: string;
  #headers: Record<string, string> | undefined;

  constructor(statusCode: number, lines: string, text: string, keepAlive: boolean) {
    this.statusCode = statusCode;
    this.#lines = lines;
    this.text = text;
    this.keepAlive = keepAlive;
  }

  get headers(): Record<string, string> {
    if (this.#headers === undefined) {
      const headers: Record<string, string> = {};
      for (const line of this.#lines === '' ? [] : this.#lines.split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        headers[name] = join(headers[name], line.slice(colon + 1).trim());
      }
      this.#headers = headers;
    }
    return this.#headers;
  }
}

/** A repeated header's values, joined as RFC 9110 §5.3 allows. */
function join(before: string | undefined, value: string): string {
  return before === undefined ? value : `${before}, ${value}`;
}

/** The peer sent something that is not an HTTP/1.x response: the connection cannot be used any more. */
export class H1ParseError extends Error {
  readonly code = 'FLEETMASTER_H1_PARSE';
  constructor(message: string) {
    super(message);
    this.name = 'H1ParseError';
  }
}

const State = {
  Head: 0,
  Fixed: 1,
  ChunkSize: 2,
  ChunkData: 3,
  ChunkEnd: 4,
  Trailers: 5,
  UntilClose: 6,
  Done: 7,
} as const;
type State = (typeof State)[keyof typeof State];

/** Largest response head accepted (status line and headers). */
const kMaxHeadBytes = 64 * 1024;
/** Largest response body accepted: the protocol's answers are envelopes of a few hundred bytes. */
export const kMaxAnswerBytes = 16 * 1024 * 1024;
const kCrlfCrlf = Buffer.from('\r\n\r\n', 'latin1');
const kCrlf = Buffer.from('\r\n', 'latin1');

export class ResponseParser {
  readonly #onResponse: (response: H1Response) => void;
  #state: State = State.Head;
  /** Bytes of an unfinished head or chunk-size line, kept across reads. */
  #carry: Buffer | undefined;
  #statusCode = 0;
  /** The current response's header lines, parsed into a record only when someone reads `headers`. */
  #headerLines = '';
  #keepAlive = true;
  #remaining = 0;
  #body: Buffer[] = [];
  #bodyBytes = 0;

  constructor(onResponse: (response: H1Response) => void) {
    this.#onResponse = onResponse;
  }

  /** True between the first byte of a response and its last. */
  get isMidResponse(): boolean {
    return this.#state !== State.Head || this.#carry !== undefined;
  }

  /**
   * Parses `bytes` (only valid during the call: a reused read buffer may be passed). Calls back once per
   * complete response. Throws `H1ParseError` on a malformed response; the parser is then unusable.
   */
  feed(bytes: Uint8Array): void {
    let buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.#carry !== undefined) {
      buf = Buffer.concat([this.#carry, buf]);
      this.#carry = undefined;
    }
    const end = buf.length;
    let i = 0;
    while (i < end) {
      switch (this.#state) {
        case State.Head: {
          const at = this.#find(buf, i, kCrlfCrlf, kMaxHeadBytes, 'response head too large');
          if (at < 0) return;
          // a complete head is held to the same limit (one read, or a carried part plus one read, can exceed it)
          if (at - i > kMaxHeadBytes) throw new H1ParseError('response head too large');
          i = this.#head(buf.toString('latin1', i, at), at + 4);
          break;
        }
        case State.Fixed: {
          const n = Math.min(this.#remaining, end - i);
          if (n === this.#remaining && this.#body.length === 0) {
            // the whole body is in this read (the usual case): decode it in place
            const text = buf.toString('utf8', i, i + n);
            i += n;
            this.#complete(text);
            break;
          }
          this.#keep(buf, i, i + n);
          i += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#complete(this.#bodyText());
          break;
        }
        case State.ChunkSize: {
          const at = this.#find(buf, i, kCrlf, 1024, 'chunk size line too long');
          if (at < 0) return;
          const line = buf.toString('latin1', i, at);
          const semicolon = line.indexOf(';');
          const hex = (semicolon < 0 ? line : line.slice(0, semicolon)).trim();
          if (!/^[0-9a-fA-F]{1,8}$/.test(hex))
            throw new H1ParseError(`bad chunk size ${JSON.stringify(line)}`);
          this.#remaining = Number.parseInt(hex, 16);
          i = at + 2;
          this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData;
          if (this.#remaining > 0) this.#grow(this.#remaining);
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.#remaining, end - i);
          this.#keep(buf, i, i + n);
          i += n;
          this.#remaining -= n;
          if (this.#remaining === 0) {
            this.#state = State.ChunkEnd;
            this.#remaining = 2;
          }
          break;
        }
        case State.ChunkEnd: {
          // the CRLF after a chunk's data, possibly split across reads
          const expected = this.#remaining === 2 ? 0x0d : 0x0a;
          if (buf[i] !== expected) throw new H1ParseError('chunk data not followed by CRLF');
          i++;
          if (--this.#remaining === 0) this.#state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          // trailer fields (ignored), ended by an empty line
          const at = this.#find(buf, i, kCrlf, kMaxHeadBytes, 'trailers too large');
          if (at < 0) return;
          const empty = at === i;
          i = at + 2;
          if (empty) this.#complete(this.#bodyText());
          break;
        }
        case State.UntilClose: {
          this.#grow(end - i);
          this.#keep(buf, i, end);
          i = end;
          break;
        }
        case State.Done:
          throw new H1ParseError('bytes after a response that closes the connection');
      }
    }
  }

  /**
   * The peer closed the connection. Completes a response framed by the close; throws `H1ParseError` when a
   * response was cut short. Returns true when a response was completed.
   */
  end(): boolean {
    if (this.#state === State.UntilClose) {
      this.#complete(this.#bodyText());
      return true;
    }
    if (this.isMidResponse && this.#state !== State.Done) {
      throw new H1ParseError('connection closed in the middle of a response');
    }
    return false;
  }

  /**
   * Where `delimiter` starts, from `i` on; or -1, with the unfinished rest kept for the next read (refused with
   * `tooLong` past `limit` bytes).
   */
  #find(buf: Buffer, i: number, delimiter: Buffer, limit: number, tooLong: string): number {
    const at = buf.indexOf(delimiter, i);
    if (at >= 0) return at;
    if (buf.length - i > limit) throw new H1ParseError(tooLong);
    this.#carry = Buffer.from(buf.subarray(i));
    return -1;
  }

  /** Reads a head; returns where its body starts. Hand-rolled (no regex, no split): it runs once per answer. */
  #head(head: string, bodyAt: number): number {
    // "HTTP/1.x NNN[ reason]"
    const lineEnd = head.indexOf('\r\n');
    const statusLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
    const statusCode = statusCodeOf(statusLine);
    if (statusCode < 0) throw new H1ParseError(`bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const minor = statusLine.charCodeAt(7) === 0x31 ? '1' : '0';
    // every line is checked; only the three that frame the body are read now, the rest when asked for
    let connection: string | undefined;
    let transferEncoding: string | undefined;
    let contentLength: string | undefined;
    const linesAt = lineEnd < 0 ? head.length : lineEnd + 2;
    let at = linesAt;
    while (at < head.length) {
      let next = head.indexOf('\r\n', at);
      if (next < 0) next = head.length;
      const colon = head.indexOf(':', at);
      const first = head.charCodeAt(at);
      if (colon <= at || colon > next || first === 0x20 || first === 0x09) {
        throw new H1ParseError(`bad header line ${JSON.stringify(head.slice(at, Math.min(next, at + 80)))}`);
      }
      const length = colon - at;
      if (length === 10 || length === 14 || length === 17) {
        const name = head.slice(at, colon).toLowerCase();
        const value = head.slice(colon + 1, next).trim();
        if (name === 'content-length') contentLength = join(contentLength, value);
        else if (name === 'transfer-encoding') transferEncoding = join(transferEncoding, value);
        else if (name === 'connection') connection = join(connection, value);
      }
      at = next + 2;
    }
    if (statusCode >= 100 && statusCode < 200) {
      // an interim answer (100 Continue, 103 Early Hints): the real one follows
      if (statusCode === 101) throw new H1ParseError('the peer switched protocols');
      return bodyAt;
    }
    const tokens = (connection ?? '').toLowerCase();
    this.#statusCode = statusCode;
    this.#headerLines = head.slice(linesAt);
    this.#keepAlive = minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
    this.#body = [];
    this.#bodyBytes = 0;
    if (statusCode === 204 || statusCode === 304) {
      this.#state = State.Head;
      this.#complete('');
    } else if (transferEncoding !== undefined) {
      if (/(?:^|,)\s*chunked\s*$/i.test(transferEncoding)) {
        this.#state = State.ChunkSize;
      } else {
        this.#state = State.UntilClose;
        this.#keepAlive = false;
      }
    } else if (contentLength !== undefined) {
      this.#remaining = lengthOf(contentLength);
      this.#grow(this.#remaining);
      this.#state = State.Fixed;
      if (this.#remaining === 0) this.#complete('');
    } else {
      this.#state = State.UntilClose;
      this.#keepAlive = false;
    }
    return bodyAt;
  }

  /** Counts body bytes against the cap. */
  #grow(n: number): void {
    this.#bodyBytes += n;
    if (this.#bodyBytes > kMaxAnswerBytes) {
      throw new H1ParseError(`response body larger than ${kMaxAnswerBytes} bytes`);
    }
  }

  /** Copies a body slice out of a read buffer that will be reused. */
  #keep(buf: Buffer, from: number, to: number): void {
    if (to > from) this.#body.push(Buffer.from(buf.subarray(from, to)));
  }

  #bodyText(): string {
    const parts = this.#body;
    this.#body = [];
    return parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
  }

  #complete(text: string): void {
    const response = new Response(this.#statusCode, this.#headerLines, text, this.#keepAlive);
    this.#state = this.#keepAlive ? State.Head : State.Done;
    this.#headerLines = '';
    this.#onResponse(response);
  }
}

/** The status code of an `HTTP/1.0` or `HTTP/1.1` status line, or -1. */
function statusCodeOf(line: string): number {
  if (!line.startsWith('HTTP/1.') || line.length < 12) return -1;
  const minor = line.charCodeAt(7);
  if ((minor !== 0x30 && minor !== 0x31) || line.charCodeAt(8) !== 0x20) return -1;
  if (line.length > 12 && line.charCodeAt(12) !== 0x20) return -1;
  let code = 0;
  for (let i = 9; i < 12; i++) {
    const digit = line.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    code = code * 10 + digit;
  }
  return code;
}

/** A Content-Length value: digits, or repeated values that agree (RFC 9112 §6.3). Throws `H1ParseError`. */
function lengthOf(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9 || i >= 15) {
      // not plain digits: maybe "5, 5" (repeated headers, joined)
      const values = value.split(',').map((v) => v.trim());
      if (values.length > 1 && values.every((v) => v === values[0])) return lengthOf(values[0]!);
      throw new H1ParseError(`bad content-length ${JSON.stringify(value)}`);
    }
    n = n * 10 + digit;
  }
  if (value.length === 0) throw new H1ParseError('bad content-length ""');
  return n;
}
