/**
 * An HTTP/1.x response parser for one keep-alive connection, fed the bytes as they arrive. It frames bodies as
 * RFC 9112 §6.3 says (no body for 1xx/204/304, then chunked, then Content-Length, else until the peer closes)
 * and hands out each response whole, its body decoded as UTF-8 (the protocol's answers are small JSON
 * envelopes). It refuses whatever Node's own parser (llhttp, strict) refuses, and more where that is simpler: a
 * peer's answer is accepted only when both would read it the same (test/h1-differential.test.ts). Every part is
 * bounded: head, body, trailers, interim answers. Pure: no sockets, tested on its own.
 */

import { AnswerTooLargeError, H1ParseError } from '../errors.ts';
import { AnswerBody, tooLarge } from './answer-body.ts';
import { kDefaultMaxAnswerBytes, kMaxHeadBytes, kMaxInterimAnswers, kMaxTrailerFields } from './transport.ts';

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
        headers[name] = join(headers[name], trimOws(line.slice(colon + 1)));
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

/** Strips SP and HTAB only (RFC 9110 OWS): `String#trim` would strip obs-text such as 0xA0 too. */
function trimOws(value: string): string {
  let from = 0;
  let to = value.length;
  while (from < to && isOws(value.charCodeAt(from))) from++;
  while (to > from && isOws(value.charCodeAt(to - 1))) to--;
  return from === 0 && to === value.length ? value : value.slice(from, to);
}

/** A Content-Length's value as llhttp reads it: SP or HTAB before the digits, SP only after them. */
function trimLeadingOwsAndTrailingSp(value: string): string {
  let from = 0;
  let to = value.length;
  while (from < to && isOws(value.charCodeAt(from))) from++;
  while (to > from && value.charCodeAt(to - 1) === 0x20) to--;
  return value.slice(from, to);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

export interface ResponseParserOptions {
  /** Largest body accepted (`AnswerTooLargeError` past it). @defaultValue 1 MiB */
  maxBodyBytes?: number;
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

const kCrlfCrlf = Buffer.from('\r\n\r\n', 'latin1');
const kCrlf = Buffer.from('\r\n', 'latin1');
/** A chunk-size line: hex digits, then `;name` or `;name=value` extensions of token characters, nothing else. */
const kChunkLine = /^[0-9a-fA-F]{1,8}(?:;[-!#$%&'*+.^_`|~0-9A-Za-z]+(?:=[-!#$%&'*+.^_`|~0-9A-Za-z]+)?)*$/;
/** A trailer that would frame the message: `Content-Length` or `Transfer-Encoding`, in any case. */
const kFramingTrailer = /^(content-length|transfer-encoding):/i;

/** Header (or trailer) lines: a token, a colon, then SP, HTAB, visible ASCII or obs-text (no CR, LF, NUL, CTL). */
const kFieldLines =
  /^[-!#$%&'*+.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n[-!#$%&'*+.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*)*$/;
/** A reason phrase (after the status code's space). */
const kReason = /^[\t\x20-\x7e\x80-\xff]*$/;
/** The last transfer coding is `chunked` (llhttp's reading: tokens split at commas, OWS around them). */
const kChunkedLast = /(?:^|,)[ \t]*chunked[ \t]*$/i;

export class ResponseParser {
  readonly #onResponse: (response: H1Response) => void;
  readonly #maxBodyBytes: number;
  #state: State = State.Head;
  /** Bytes of an unfinished head, chunk-size or trailer line, kept across reads. */
  #carry: Buffer | undefined;
  #statusCode = 0;
  /** The current response's header lines, parsed into a record only when someone reads `headers`. */
  #headerLines = '';
  #keepAlive = true;
  #remaining = 0;
  #body: AnswerBody | undefined;
  /** Interim (1xx) answers before the current final one. */
  #interim = 0;
  #trailerFields = 0;
  #trailerBytes = 0;

  constructor(onResponse: (response: H1Response) => void, options: ResponseParserOptions = {}) {
    this.#onResponse = onResponse;
    this.#maxBodyBytes = options.maxBodyBytes ?? kDefaultMaxAnswerBytes;
  }

  /** True between the first byte of a response (interim answers included) and its last. */
  get isMidResponse(): boolean {
    return (
      (this.#state !== State.Head && this.#state !== State.Done) ||
      this.#carry !== undefined ||
      this.#interim > 0
    );
  }

  /**
   * Parses `bytes` (only valid during the call: a reused read buffer may be passed). Calls back once per
   * complete response. Throws `H1ParseError` on a malformed response and `AnswerTooLargeError` past a bound; the
   * parser is then unusable.
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
          const at = this.#find(buf, i, kCrlfCrlf, kMaxHeadBytes, 'head');
          if (at < 0) return;
          // a complete head is held to the same limit (one read, or a carried part plus one read, can exceed it)
          if (at - i > kMaxHeadBytes) throw headTooLarge();
          i = this.#head(buf.toString('latin1', i, at), at + 4);
          break;
        }
        case State.Fixed: {
          const n = Math.min(this.#remaining, end - i);
          if (n === this.#remaining && this.#body === undefined) {
            // the whole body is in this read (the usual case): decode it in place
            const text = buf.toString('utf8', i, i + n);
            i += n;
            this.#complete(text);
            break;
          }
          this.#body ??= new AnswerBody(this.#maxBodyBytes, this.#remaining);
          this.#body.append(buf, i, i + n);
          i += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#complete(this.#bodyText());
          break;
        }
        case State.ChunkSize: {
          const at = this.#find(buf, i, kCrlf, 1024, 'chunk size line too long');
          if (at < 0) return;
          const line = buf.toString('latin1', i, at);
          if (!kChunkLine.test(line)) throw new H1ParseError(`bad chunk size ${JSON.stringify(line)}`);
          const semicolon = line.indexOf(';');
          this.#remaining = Number.parseInt(semicolon < 0 ? line : line.slice(0, semicolon), 16);
          i = at + 2;
          if (this.#remaining === 0) {
            this.#state = State.Trailers;
            this.#trailerFields = 0;
            this.#trailerBytes = 0;
          } else {
            // refused before any of its bytes are read
            if (this.#body!.length + this.#remaining > this.#maxBodyBytes) throw tooLarge(this.#maxBodyBytes);
            this.#state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.#remaining, end - i);
          this.#body!.append(buf, i, i + n);
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
          // trailer fields (checked, counted, dropped), ended by an empty line
          const at = this.#find(buf, i, kCrlf, kMaxHeadBytes - this.#trailerBytes, 'trailers');
          if (at < 0) return;
          const empty = at === i;
          if (!empty) this.#trailer(buf.toString('latin1', i, at));
          i = at + 2;
          if (empty) this.#complete(this.#bodyText());
          break;
        }
        case State.UntilClose: {
          this.#body!.append(buf, i, end);
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
    if (this.isMidResponse) throw new H1ParseError('connection closed in the middle of a response');
    return false;
  }

  /**
   * Where `delimiter` starts, from `i` on; or -1, with the unfinished rest kept for the next read (refused past
   * `limit` bytes: `head` and `trailers` are `AnswerTooLargeError`s, anything else an `H1ParseError`).
   */
  #find(buf: Buffer, i: number, delimiter: Buffer, limit: number, tooLong: string): number {
    const at = buf.indexOf(delimiter, i);
    if (at >= 0) return at;
    if (buf.length - i > limit) {
      if (tooLong === 'head') throw headTooLarge();
      if (tooLong === 'trailers') throw trailersTooLarge();
      throw new H1ParseError(tooLong);
    }
    this.#carry = Buffer.from(buf.subarray(i));
    return -1;
  }

  /** Reads a head; returns where its body starts. Hand-rolled (one regex, no split): it runs once per answer. */
  #head(head: string, bodyAt: number): number {
    // "HTTP/1.x NNN[ reason]"
    const lineEnd = head.indexOf('\r\n');
    const statusLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
    const statusCode = statusCodeOf(statusLine);
    if (statusCode < 0) throw new H1ParseError(`bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const minor = statusLine.charCodeAt(7) === 0x31 ? '1' : '0';
    const linesAt = lineEnd < 0 ? head.length : lineEnd + 2;
    if (linesAt < head.length && !kFieldLines.test(head.slice(linesAt))) {
      throw new H1ParseError(`bad header line in ${JSON.stringify(head.slice(linesAt, linesAt + 200))}`);
    }
    // only the three headers that frame the body are read now, the rest when asked for
    let connection: string | undefined;
    let transferEncoding: string | undefined;
    let contentLength: string | undefined;
    let at = linesAt;
    while (at < head.length) {
      let next = head.indexOf('\r\n', at);
      if (next < 0) next = head.length;
      const colon = head.indexOf(':', at);
      const length = colon - at;
      if (length === 10 || length === 14 || length === 17) {
        const name = head.slice(at, colon).toLowerCase();
        const value = trimOws(head.slice(colon + 1, next));
        if (name === 'content-length') {
          // llhttp refuses a repeated Content-Length, even an equal one
          if (contentLength !== undefined) throw new H1ParseError('bad content-length: repeated');
          // and an HTAB after the digits (only SP may follow them there), so the tab is kept for lengthOf to refuse
          contentLength = trimLeadingOwsAndTrailingSp(head.slice(colon + 1, next));
        } else if (name === 'transfer-encoding') transferEncoding = join(transferEncoding, value);
        else if (name === 'connection') connection = join(connection, value);
      }
      at = next + 2;
    }
    if (transferEncoding !== undefined && contentLength !== undefined) {
      // two framings: the request smuggling case, refused as llhttp refuses it (RFC 9112 §6.3 allows no other)
      throw new H1ParseError('both Content-Length and Transfer-Encoding');
    }
    // checked even where it frames nothing (1xx, 204, 304), as llhttp checks it
    const length = contentLength === undefined ? -1 : lengthOf(contentLength);
    const tokens = (connection ?? '').toLowerCase();
    const keepAlive = minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
    if (statusCode < 200) {
      // the final answer must follow on this connection: an interim one that closes it leaves none (llhttp too)
      if (!keepAlive) throw new H1ParseError('an interim answer that closes the connection');
      return this.#interimAnswer(statusCode, bodyAt);
    }
    this.#interim = 0;
    this.#statusCode = statusCode;
    this.#headerLines = head.slice(linesAt);
    this.#keepAlive = keepAlive;
    this.#body = undefined;
    if (statusCode === 204 || statusCode === 304) {
      this.#state = State.Head;
      this.#complete('');
    } else if (transferEncoding !== undefined) {
      this.#body = new AnswerBody(this.#maxBodyBytes);
      if (kChunkedLast.test(transferEncoding)) {
        this.#state = State.ChunkSize;
      } else {
        this.#state = State.UntilClose;
        this.#keepAlive = false;
      }
    } else if (length >= 0) {
      this.#remaining = length;
      if (this.#remaining > this.#maxBodyBytes) throw tooLarge(this.#maxBodyBytes);
      this.#state = State.Fixed;
      if (this.#remaining === 0) this.#complete('');
    } else {
      this.#body = new AnswerBody(this.#maxBodyBytes);
      this.#state = State.UntilClose;
      this.#keepAlive = false;
    }
    return bodyAt;
  }

  /** An interim answer (103 Early Hints, …): dropped, counted; the real one follows. */
  #interimAnswer(statusCode: number, bodyAt: number): number {
    if (statusCode === 100) throw new H1ParseError('an unsolicited 100 Continue (no request expects one)');
    if (statusCode === 101) throw new H1ParseError('the peer switched protocols');
    if (++this.#interim > kMaxInterimAnswers) {
      throw new AnswerTooLargeError('interim', `more than ${kMaxInterimAnswers} interim (1xx) answers`);
    }
    return bodyAt;
  }

  #trailer(line: string): void {
    this.#trailerBytes += line.length + 2;
    if (this.#trailerBytes > kMaxHeadBytes) throw trailersTooLarge();
    if (++this.#trailerFields > kMaxTrailerFields) {
      throw new AnswerTooLargeError('trailers', `more than ${kMaxTrailerFields} trailer fields`);
    }
    if (!kFieldLines.test(line))
      throw new H1ParseError(`bad trailer line ${JSON.stringify(line.slice(0, 80))}`);
    // framing belongs to the head (RFC 9110, 6.5.1): llhttp refuses a Content-Length here; Transfer-Encoding too
    if (kFramingTrailer.test(line))
      throw new H1ParseError(`a framing field in the trailers: ${line.slice(0, 80)}`);
  }

  #bodyText(): string {
    const body = this.#body;
    this.#body = undefined;
    return body === undefined ? '' : body.text();
  }

  #complete(text: string): void {
    const response = new Response(this.#statusCode, this.#headerLines, text, this.#keepAlive);
    this.#state = this.#keepAlive ? State.Head : State.Done;
    this.#headerLines = '';
    this.#onResponse(response);
  }
}

function headTooLarge(): AnswerTooLargeError {
  return new AnswerTooLargeError('head', `response head larger than ${kMaxHeadBytes} bytes`);
}

function trailersTooLarge(): AnswerTooLargeError {
  return new AnswerTooLargeError('trailers', `trailers larger than ${kMaxHeadBytes} bytes`);
}

/** The status code (100–999) of an `HTTP/1.0` or `HTTP/1.1` status line, or -1. */
function statusCodeOf(line: string): number {
  if (!line.startsWith('HTTP/1.') || line.length < 12) return -1;
  const minor = line.charCodeAt(7);
  if ((minor !== 0x30 && minor !== 0x31) || line.charCodeAt(8) !== 0x20) return -1;
  if (line.length > 12 && (line.charCodeAt(12) !== 0x20 || !kReason.test(line.slice(13)))) return -1;
  let code = 0;
  for (let i = 9; i < 12; i++) {
    const digit = line.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    code = code * 10 + digit;
  }
  return code < 100 ? -1 : code;
}

/** A Content-Length value: digits only (no sign, no list). Throws `H1ParseError`. */
function lengthOf(value: string): number {
  if (value.length === 0 || value.length > 15) throw badLength(value);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) throw badLength(value);
    n = n * 10 + digit;
  }
  return n;
}

function badLength(value: string): H1ParseError {
  return new H1ParseError(`bad content-length ${JSON.stringify(value.slice(0, 40))}`);
}
