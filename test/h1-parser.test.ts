// The HTTP/1.x response parser on its own, without sockets: framing (Content-Length, chunked, until close, no
// body), reads split anywhere, keep-alive, header folding into one record, malformed answers, and the bounds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type H1Response, ResponseParser } from '../src/client/h1-parser.ts';
import {
  kDefaultMaxAnswerBytes,
  kMaxHeadBytes,
  kMaxInterimAnswers,
  kMaxTrailerFields,
} from '../src/client/transport.ts';
import { AnswerTooLargeError, H1ParseError } from '../src/errors.ts';

/** A response as a plain record, comparable with `deepEqual` (the parser may hand out a class instance). */
function plain(r: H1Response): H1Response {
  return { statusCode: r.statusCode, headers: { ...r.headers }, text: r.text, keepAlive: r.keepAlive };
}

/** Feeds `chunks` in order (then `end()` when asked) and returns every response, in order, as plain records. */
function parse(chunks: readonly Uint8Array[], end = false): H1Response[] {
  const responses: H1Response[] = [];
  const parser = new ResponseParser((r) => responses.push(plain(r)));
  for (const chunk of chunks) parser.feed(chunk);
  if (end) parser.end();
  return responses;
}

const bytes = (s: string) => Buffer.from(s, 'utf8');

/** Every way of cutting `wire` in two, plus one byte at a time. */
function splits(wire: Buffer): { name: string; chunks: Buffer[] }[] {
  const out: { name: string; chunks: Buffer[] }[] = [];
  for (let at = 1; at < wire.length; at++) {
    out.push({ name: `split at ${at}`, chunks: [wire.subarray(0, at), wire.subarray(at)] });
  }
  out.push({ name: 'byte by byte', chunks: [...wire].map((b) => Buffer.from([b])) });
  return out;
}

/** Asserts that every split of `wire` parses to exactly `expected`. */
function assertSplitsAgree(wire: Buffer, expected: H1Response[], end = false): void {
  for (const { name, chunks } of splits(wire)) assert.deepEqual(parse(chunks, end), expected, name);
}

const isParseError = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof H1ParseError, `expected H1ParseError, got ${String(err)}`);
  assert.equal(err.code, 'FLEETMASTER_H1_PARSE');
  assert.match(err.message, pattern);
  return true;
};

describe('ResponseParser framing', () => {
  test('a Content-Length answer in one read; every split of the same bytes gives the identical answer', () => {
    const wire = bytes(
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}',
    );
    const whole = parse([wire]);
    assert.deepEqual(whole, [
      {
        statusCode: 200,
        headers: { 'content-type': 'application/json', 'content-length': '11' },
        text: '{"ok":true}',
        keepAlive: true,
      },
    ]);
    assertSplitsAgree(wire, whole);
  });

  test('no callback before the last body byte; isMidResponse tracks the answer', () => {
    const wire = bytes('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc');
    const seen: H1Response[] = [];
    const parser = new ResponseParser((r) => seen.push(r));
    assert.equal(parser.isMidResponse, false);
    parser.feed(wire.subarray(0, 5));
    assert.equal(parser.isMidResponse, true);
    parser.feed(wire.subarray(5, wire.length - 1));
    assert.equal(seen.length, 0);
    assert.equal(parser.isMidResponse, true);
    parser.feed(wire.subarray(wire.length - 1));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.text, 'abc');
    assert.equal(parser.isMidResponse, false);
    assert.equal(parser.end(), false, 'a close between answers completes nothing and is no error');
  });

  test('two pipelined answers in one read come out in order', () => {
    const wire = bytes(
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 404 Not Found\r\nContent-Length: 6\r\n\r\nsecond',
    );
    const expected = [
      { statusCode: 200, headers: { 'content-length': '5' }, text: 'first', keepAlive: true },
      { statusCode: 404, headers: { 'content-length': '6' }, text: 'second', keepAlive: true },
    ];
    assert.deepEqual(parse([wire]), expected);
    assertSplitsAgree(wire, expected);
  });

  test('Content-Length: 0 completes at once, with an empty body', () => {
    const responses = parse([bytes('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n')]);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.statusCode, 201);
    assert.equal(responses[0]!.text, '');
  });

  test('a chunked body with chunk extensions and trailers, whole and split anywhere', () => {
    const wire = bytes(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value\r\nhello\r\n' +
        '1\r\n \r\n' +
        'A;ext\r\n0123456789\r\n' +
        '0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\n\r\n',
    );
    const expected: H1Response[] = [
      {
        statusCode: 200,
        headers: { 'transfer-encoding': 'chunked' },
        text: 'hello 0123456789',
        keepAlive: true,
      },
      { statusCode: 204, headers: {}, text: '', keepAlive: true },
    ];
    assert.deepEqual(parse([wire]), expected);
    assertSplitsAgree(wire, expected);
  });

  test('a chunked body without trailers; upper-case hex sizes', () => {
    const body = 'x'.repeat(0x1f);
    const wire = bytes(
      `HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n1F\r\n${body}\r\n0\r\n\r\n`,
    );
    const responses = parse([wire]);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.text, body);
    assert.equal(responses[0]!.keepAlive, true);
  });

  test('a body framed by the close completes only on end(), and keepAlive is false', () => {
    const wire = bytes('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the ');
    const seen: H1Response[] = [];
    const parser = new ResponseParser((r) => seen.push(r));
    parser.feed(wire);
    parser.feed(bytes('very end'));
    assert.equal(seen.length, 0, 'nothing before the close');
    assert.equal(parser.end(), true);
    assert.deepEqual(seen.map(plain), [
      {
        statusCode: 200,
        headers: { 'content-type': 'text/plain' },
        text: 'until the very end',
        keepAlive: false,
      },
    ]);
    assertSplitsAgree(Buffer.concat([wire, bytes('very end')]), seen.map(plain), true);
  });

  test('a Transfer-Encoding that is not chunked last is read until the close', () => {
    const seen: H1Response[] = [];
    const parser = new ResponseParser((r) => seen.push(r));
    parser.feed(bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabcdef'));
    assert.equal(seen.length, 0);
    parser.end();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.text, 'abcdef');
    assert.equal(seen[0]!.keepAlive, false);
  });

  test('interim answers (102, 103) then a 200: one answer, the 200', () => {
    const wire = bytes(
      'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    );
    const expected = [{ statusCode: 200, headers: { 'content-length': '2' }, text: 'ok', keepAlive: true }];
    assert.deepEqual(parse([wire]), expected);
    assertSplitsAgree(wire, expected);
  });

  test('204 and 304 with a Content-Length have no body; the next answer is parsed right after', () => {
    const wire = bytes(
      'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\nETag: "x"\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext',
    );
    const expected: H1Response[] = [
      { statusCode: 204, headers: { 'content-length': '10' }, text: '', keepAlive: true },
      { statusCode: 304, headers: { 'content-length': '7', etag: '"x"' }, text: '', keepAlive: true },
      { statusCode: 200, headers: { 'content-length': '4' }, text: 'next', keepAlive: true },
    ];
    assert.deepEqual(parse([wire]), expected);
    assertSplitsAgree(wire, expected);
  });

  test('a status line without a reason phrase is accepted', () => {
    const responses = parse([bytes('HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx')]);
    assert.equal(responses[0]!.statusCode, 200);
    assert.equal(responses[0]!.text, 'x');
  });
});

describe('ResponseParser keep-alive', () => {
  const keepAliveOf = (head: string) => {
    const responses = parse([bytes(`${head}\r\nContent-Length: 0\r\n\r\n`)]);
    assert.equal(responses.length, 1);
    return responses[0]!.keepAlive;
  };

  test('HTTP/1.0 closes unless it says keep-alive; HTTP/1.1 keeps alive unless it says close', () => {
    assert.equal(keepAliveOf('HTTP/1.0 200 OK'), false);
    assert.equal(keepAliveOf('HTTP/1.0 200 OK\r\nConnection: keep-alive'), true);
    assert.equal(keepAliveOf('HTTP/1.0 200 OK\r\nConnection: Keep-Alive'), true);
    assert.equal(keepAliveOf('HTTP/1.1 200 OK'), true);
    assert.equal(keepAliveOf('HTTP/1.1 200 OK\r\nConnection: close'), false);
    assert.equal(keepAliveOf('HTTP/1.1 200 OK\r\nconnection: Close'), false);
    assert.equal(keepAliveOf('HTTP/1.1 200 OK\r\nConnection: keep-alive'), true);
  });

  test('bytes after an answer that closes the connection are refused', () => {
    const seen: H1Response[] = [];
    const parser = new ResponseParser((r) => seen.push(r));
    assert.throws(
      () =>
        parser.feed(
          bytes('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n'),
        ),
      isParseError(/after a response that closes/),
    );
    assert.equal(seen.length, 1, 'the first answer was handed out');
    assert.equal(seen[0]!.keepAlive, false);
  });
});

describe('ResponseParser headers and bodies', () => {
  test('repeated headers joined with ", "; names lower-cased; values trimmed', () => {
    const wire = bytes(
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Mixed-Case:    padded value \t\r\nset-cookie:b=2\r\n' +
        'SET-COOKIE: c=3\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n',
    );
    const [response] = parse([wire]);
    assert.deepEqual(response!.headers, {
      'set-cookie': 'a=1, b=2, c=3',
      'x-mixed-case': 'padded value',
      'x-empty': '',
      'content-length': '0',
    });
  });

  test('a colon inside a header value stays in the value', () => {
    const [response] = parse([
      bytes('HTTP/1.1 200 OK\r\nLocation: http://a:1/b\r\nContent-Length: 0\r\n\r\n'),
    ]);
    assert.equal(response!.headers['location'], 'http://a:1/b');
  });

  test('a UTF-8 body cut in the middle of a multi-byte character decodes whole', () => {
    const text = 'é€😀 naïve ✓';
    const body = bytes(text);
    const framings = [
      `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`,
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`,
      'HTTP/1.1 200 OK\r\n\r\n',
    ];
    const tails = ['', '\r\n0\r\n\r\n', ''];
    for (const [i, head] of framings.entries()) {
      const wire = Buffer.concat([bytes(head), body, bytes(tails[i]!)]);
      const untilClose = i === 2;
      const [whole] = parse([wire], untilClose);
      assert.equal(whole!.text, text, head);
      // cut inside '€' (3 bytes) and inside '😀' (4 bytes), and everywhere else
      assertSplitsAgree(wire, [whole!], untilClose);
    }
    // and a chunked body whose chunks themselves split the characters
    const chunked = Buffer.concat([
      bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      ...[...body].map((b) => Buffer.concat([bytes('1\r\n'), Buffer.from([b]), bytes('\r\n')])),
      bytes('0\r\n\r\n'),
    ]);
    assert.equal(parse([chunked])[0]!.text, text);
  });

  test('a read that is a view into a reused buffer: later bytes never leak into an earlier answer', () => {
    // as the client does: every read lands in one shared buffer and the parser sees shared.subarray(0, n)
    const shared = new Uint8Array(64 * 1024);
    const feedVia = (parser: ResponseParser, part: Buffer) => {
      shared.set(part);
      parser.feed(shared.subarray(0, part.length));
      shared.fill(0x5a); // the next read overwrites it
    };
    const cl = { 'x-id': 'abc', 'content-length': '10' };
    const te = { 'x-id': 'abc', 'transfer-encoding': 'chunked' };
    const cases = [
      ['HTTP/1.1 200 OK\r\nX-Id: abc\r\nContent-Le', 'ngth: 10\r\n\r\n0123456789', cl],
      ['HTTP/1.1 200 OK\r\nX-Id: abc\r\nContent-Length: 10\r\n\r\n01234', '56789', cl],
      [
        'HTTP/1.1 200 OK\r\nX-Id: abc\r\nTransfer-Encoding: chunked\r\n\r\n',
        'a\r\n0123456789\r\n0\r\n\r\n',
        te,
      ],
      [
        'HTTP/1.1 200 OK\r\nX-Id: abc\r\nTransfer-Encoding: chunked\r\n\r\na',
        '\r\n0123456789\r\n0\r\n\r\n',
        te,
      ],
      [
        'HTTP/1.1 200 OK\r\nX-Id: abc\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123',
        '456789\r\n0\r\n\r\n',
        te,
      ],
      [
        'HTTP/1.1 200 OK\r\nX-Id: abc\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r',
        '\n\r\n',
        te,
      ],
      [
        'HTTP/1.1 200 OK\r\nX-Id: abc\r\nConnection: close\r\n\r\n01234',
        '56789',
        { 'x-id': 'abc', connection: 'close' },
      ],
    ] as const;
    for (const [first, second, headers] of cases) {
      const seen: H1Response[] = [];
      const parser = new ResponseParser((r) => seen.push(r));
      feedVia(parser, bytes(first));
      feedVia(parser, bytes(second));
      if (seen.length === 0) parser.end();
      assert.equal(seen.length, 1, first);
      // read after the buffer was overwritten: nothing of the answer may still point into it
      assert.equal(seen[0]!.text, '0123456789', first);
      assert.deepEqual({ ...seen[0]!.headers }, headers, first);
    }
    // a partial body fed from an offset view (byteOffset > 0) of a larger buffer
    const big = Buffer.alloc(1024, 0x41);
    const wire = bytes('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc');
    wire.copy(big, 100);
    const seen: H1Response[] = [];
    const parser = new ResponseParser((r) => seen.push(r));
    parser.feed(new Uint8Array(big.buffer, big.byteOffset + 100, wire.length));
    big.fill(0x42);
    parser.feed(bytes('def'));
    assert.equal(seen[0]?.text, 'abcdef');
  });
});

describe('ResponseParser refuses malformed answers', () => {
  const refuse = (wire: string, pattern: RegExp) => {
    assert.throws(() => parse([bytes(wire)]), isParseError(pattern), JSON.stringify(wire.slice(0, 80)));
  };

  test('a bad status line', () => {
    for (const line of [
      'hello',
      'HTTP/2 200 OK',
      'HTTP/1.2 200 OK',
      'HTTP/1.1 20 OK',
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 abc OK',
      'HTTP/1.1  200 OK',
      'http/1.1 200 OK',
    ]) {
      refuse(`${line}\r\nContent-Length: 0\r\n\r\n`, /bad status line/);
    }
  });

  test('a header line without a colon, or with an empty name', () => {
    refuse('HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n', /bad header line/);
    refuse('HTTP/1.1 200 OK\r\n: value\r\nContent-Length: 0\r\n\r\n', /bad header line/);
    // the colon of a later line does not count for this one
    refuse('HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 0\r\n\r\n', /bad header line/);
  });

  test('an obs-fold continuation line', () => {
    refuse(
      'HTTP/1.1 200 OK\r\nX-Long: first\r\n second: part\r\nContent-Length: 0\r\n\r\n',
      /bad header line/,
    );
    refuse(
      'HTTP/1.1 200 OK\r\nX-Long: first\r\n\tsecond: part\r\nContent-Length: 0\r\n\r\n',
      /bad header line/,
    );
  });

  test('conflicting or malformed Content-Lengths', () => {
    refuse('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', /bad content-length/);
    refuse('HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd', /bad content-length/);
    refuse('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad content-length/);
    refuse('HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n', /bad content-length/);
    refuse('HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n', /bad content-length/);
  });

  test('a bad chunk size, or chunk data not followed by CRLF', () => {
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    refuse(`${head}zz\r\nab\r\n0\r\n\r\n`, /bad chunk size/);
    refuse(`${head}-1\r\n`, /bad chunk size/);
    refuse(`${head}\r\n`, /bad chunk size/);
    refuse(`${head}123456789\r\n`, /bad chunk size/);
    refuse(`${head}2\r\nabcd\r\n`, /chunk data not followed by CRLF/);
    refuse(`${head}${'1'.repeat(1100)}`, /chunk size line too long/);
  });

  test('101 Switching Protocols', () => {
    refuse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', /switched protocols/);
  });

  test('end() in the middle of a head, a Content-Length body, or a chunked body', () => {
    for (const wire of [
      'HTTP/1.1 200 OK\r\nContent-Len',
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234',
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n',
    ]) {
      const parser = new ResponseParser(() => assert.fail('no answer'));
      parser.feed(bytes(wire));
      assert.throws(() => parser.end(), isParseError(/closed in the middle/), JSON.stringify(wire));
    }
  });
});

describe('ResponseParser refuses what llhttp refuses', () => {
  const refuse = (wire: string, pattern: RegExp) => {
    assert.throws(() => parse([bytes(wire)]), isParseError(pattern), JSON.stringify(wire.slice(0, 120)));
    // and fed a byte at a time
    assert.throws(
      () => parse([...Buffer.from(wire, 'latin1')].map((b) => Buffer.from([b]))),
      isParseError(pattern),
      `byte by byte: ${JSON.stringify(wire.slice(0, 120))}`,
    );
  };
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';

  test('both Content-Length and Transfer-Encoding, in either order', () => {
    refuse(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\n${chunked.slice(17)}3\r\nabc\r\n0\r\n\r\n`, /both/);
    refuse(`${chunked.slice(0, -2)}Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, /both/);
    refuse('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nab', /both/);
  });

  test('spaces or tabs around a chunk size', () => {
    for (const line of ['3 ', ' 3', '3\t', '3 ;x', '3\t;x', '3; x', '3;x =y', '3;x= y', '3;']) {
      refuse(`${chunked}${line}\r\nabc\r\n0\r\n\r\n`, /bad chunk size/);
    }
    // the last chunk too
    refuse(`${chunked}3\r\nabc\r\n0 \r\n\r\n`, /bad chunk size/);
  });

  test('NUL, bare LF, bare CR or another control character in a header value', () => {
    for (const value of ['a\0b', 'a\nb', 'a\rb', 'a\x01b', 'a\x7fb', '\0', 'a\n']) {
      refuse(`HTTP/1.1 200 OK\r\nX-A: ${value}\r\nContent-Length: 1\r\n\r\nx`, /bad header line/);
    }
    // a bare LF ending a line, or the head
    refuse('HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\nx', /bad status line/);
    refuse('HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\n\r\nx', /bad header line/);
  });

  test('a header name that is not a token', () => {
    for (const name of ['X A', 'X-A ', 'X(A', 'X"A', 'X\0A', 'Xé']) {
      refuse(`HTTP/1.1 200 OK\r\n${name}: v\r\nContent-Length: 1\r\n\r\nx`, /bad header line/);
    }
  });

  test('a status below 100 (000, 099)', () => {
    for (const status of ['000', '099', '001']) {
      refuse(`HTTP/1.1 ${status} OK\r\nContent-Length: 1\r\n\r\nx`, /bad status line/);
    }
  });

  test('an unsolicited 100 Continue (fleetmaster never sends Expect)', () => {
    refuse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', /100 Continue/);
  });

  test('repeated Content-Length, even equal, or a list', () => {
    refuse('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', /content-length/);
    refuse('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc', /content-length/);
    refuse('HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc', /content-length/);
  });

  test('a malformed trailer field', () => {
    for (const trailer of ['bad', 'X : v', 'X: a\0b', 'X: a\nb', ': v']) {
      refuse(`${chunked}3\r\nabc\r\n0\r\n${trailer}\r\n\r\n`, /bad trailer line/);
    }
  });

  test('a framing field among the trailers (llhttp refuses a Content-Length there)', () => {
    for (const trailer of ['Content-Length: 3', 'content-length: 0', 'Transfer-Encoding: chunked']) {
      refuse(`${chunked}3\r\nabc\r\n0\r\n${trailer}\r\n\r\n`, /framing field in the trailers/);
    }
    // a name that only contains one is an ordinary trailer
    const ok = parse([bytes(`${chunked}3\r\nabc\r\n0\r\nX-Content-Length: 3\r\n\r\n`)]);
    assert.equal(ok[0]?.text, 'abc');
  });
});

describe('ResponseParser bounds', () => {
  const isTooLarge = (limit: string) => (err: unknown) => {
    assert.ok(err instanceof AnswerTooLargeError, `expected AnswerTooLargeError, got ${String(err)}`);
    assert.equal(err.code, 'FLEETMASTER_ANSWER_TOO_LARGE');
    assert.equal(err.limit, limit);
    return true;
  };
  const chunkedHead = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  /** Parses with a body cap of `max` bytes. */
  const parseCapped = (max: number, chunks: readonly Uint8Array[], end = false) => {
    const responses: H1Response[] = [];
    const parser = new ResponseParser((r) => responses.push(plain(r)), { maxBodyBytes: max });
    for (const chunk of chunks) parser.feed(chunk);
    if (end) parser.end();
    return responses;
  };

  test('the default body cap is 1 MiB', () => {
    assert.equal(kDefaultMaxAnswerBytes, 1024 * 1024);
    assert.throws(
      () => parse([bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${kDefaultMaxAnswerBytes + 1}\r\n\r\n`)]),
      isTooLarge('body'),
    );
  });

  test('a body at the cap is accepted; one byte over is refused, however it is framed', () => {
    const max = 1000;
    const at = 'a'.repeat(max);
    const over = 'a'.repeat(max + 1);
    const chunkedOf = (body: string) =>
      bytes(
        `${chunkedHead}${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\na\r\n${body.slice(0, 10)}\r\n0\r\n\r\n`,
      );
    for (const [name, wire, end] of [
      [
        'content-length',
        (b: string) => bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n${b}`),
        false,
      ],
      ['chunked', chunkedOf, false],
      ['until close', (b: string) => bytes(`HTTP/1.1 200 OK\r\n\r\n${b}`), true],
    ] as const) {
      const [ok] = parseCapped(max, [wire(at)], end);
      assert.equal(ok?.text.length, max, name);
      assert.throws(() => parseCapped(max, [wire(over)], end), isTooLarge('body'), name);
      // and split in two reads (the body no longer in the read of its head)
      const whole = wire(over);
      assert.throws(
        () => parseCapped(max, [whole.subarray(0, 40), whole.subarray(40)], end),
        isTooLarge('body'),
        `${name}, split`,
      );
    }
    // a Content-Length over the cap is refused at the head, before any byte of the body
    assert.throws(
      () => parseCapped(max, [bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${max + 1}\r\n\r\n`)]),
      isTooLarge('body'),
    );
    // so is a chunk whose size would pass it
    assert.throws(
      () => parseCapped(max, [bytes(`${chunkedHead}${(max + 1).toString(16)}\r\n`)]),
      isTooLarge('body'),
    );
  });

  test('a head over the limit, in one read or many, is refused; one under it is accepted', () => {
    const huge = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(kMaxHeadBytes + 1024)}`;
    // no end of head in sight
    assert.throws(() => parse([bytes(huge)]), isTooLarge('head'));
    // piece by piece
    const parser = new ResponseParser(() => assert.fail('no answer'));
    assert.throws(() => {
      for (let at = 0; at < huge.length; at += 1024) parser.feed(bytes(huge.slice(at, at + 1024)));
    }, isTooLarge('head'));
    // complete, whole in one read
    assert.throws(() => parse([bytes(`${huge}\r\nContent-Length: 0\r\n\r\n`)]), isTooLarge('head'));
    // complete, the end of the head arriving in a second read on top of a large carried part
    const split = new ResponseParser(() => assert.fail('no answer'));
    split.feed(bytes(huge.slice(0, kMaxHeadBytes - 100)));
    assert.throws(
      () => split.feed(bytes(`${huge.slice(kMaxHeadBytes - 100)}\r\nContent-Length: 0\r\n\r\n`)),
      isTooLarge('head'),
    );
    const [ok] = parse([
      bytes(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(kMaxHeadBytes - 100)}\r\nContent-Length: 0\r\n\r\n`),
    ]);
    assert.equal(ok!.statusCode, 200);
  });

  test(`at most ${kMaxInterimAnswers} interim (1xx) answers before the final one`, () => {
    const interim = 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n';
    const final = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const [ok] = parse([bytes(interim.repeat(kMaxInterimAnswers) + final)]);
    assert.equal(ok!.text, 'ok');
    assert.throws(
      () => parse([bytes(interim.repeat(kMaxInterimAnswers + 1) + final)]),
      isTooLarge('interim'),
    );
    // the count is per answer: the next answer may have its own
    const two = parse([bytes((interim.repeat(kMaxInterimAnswers) + final).repeat(2))]);
    assert.equal(two.length, 2);
    // a peer that sends 1xx answers for ever is refused as it goes, one read at a time
    const parser = new ResponseParser(() => assert.fail('no answer'));
    assert.throws(() => {
      for (let i = 0; i < 100; i++) parser.feed(bytes(interim));
    }, isTooLarge('interim'));
  });

  test(`trailers: at most ${kMaxTrailerFields} fields and ${kMaxHeadBytes} bytes`, () => {
    const body = `${chunkedHead}3\r\nabc\r\n0\r\n`;
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-T${i}: v\r\n`).join('');
    const [ok] = parse([bytes(`${body}${fields(kMaxTrailerFields)}\r\n`)]);
    assert.equal(ok!.text, 'abc');
    assert.deepEqual(ok!.headers, { 'transfer-encoding': 'chunked' }, 'trailers are dropped');
    assert.throws(
      () => parse([bytes(`${body}${fields(kMaxTrailerFields + 1)}\r\n`)]),
      isTooLarge('trailers'),
    );
    // one trailer too long, whole or arriving in pieces, never ended
    const long = `X-Long: ${'a'.repeat(kMaxHeadBytes)}`;
    assert.throws(() => parse([bytes(`${body}${long}\r\n\r\n`)]), isTooLarge('trailers'));
    const parser = new ResponseParser(() => assert.fail('no answer'));
    parser.feed(bytes(body));
    assert.throws(() => {
      for (let at = 0; at < long.length; at += 512) parser.feed(bytes(long.slice(at, at + 512)));
    }, isTooLarge('trailers'));
    // a few long trailers that only together pass the limit
    const quarter = `X-Q: ${'q'.repeat(kMaxHeadBytes / 4)}\r\n`;
    assert.throws(() => parse([bytes(`${body}${quarter.repeat(4)}\r\n`)]), isTooLarge('trailers'));
  });

  test('many one-byte chunks cost their bytes, not an object each', async () => {
    // count what the parser holds half-way through a body of one-byte chunks, after a full collection
    const gc = exposeGc();
    const n = 200_000;
    const piece = Buffer.from('1\r\nx\r\n'.repeat(1000), 'latin1');
    const parser = new ResponseParser(() => undefined);
    parser.feed(bytes(chunkedHead));
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n / 1000; i++) parser.feed(piece);
    gc();
    const held = process.memoryUsage().heapUsed - before;
    // 200,000 one-byte Buffers would hold well over 10 MB of heap; one growing buffer holds 256 KiB
    assert.ok(held < 4 * 1024 * 1024, `the parser holds ${held} bytes of heap for ${n} one-byte chunks`);
    let text = '';
    const done = new ResponseParser((r) => {
      text = r.text;
    });
    done.feed(bytes(chunkedHead));
    for (let i = 0; i < n / 1000; i++) done.feed(piece);
    done.feed(bytes('0\r\n\r\n'));
    assert.equal(text, 'x'.repeat(n));
  });
});

/** `global.gc`, exposed for this process when it was started without --expose-gc. */
function exposeGc(): () => void {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('ResponseParser: gaps found by the differential test', () => {
  test('a Content-Length is checked where it frames nothing (1xx, 204, 304)', () => {
    for (const status of ['204 No Content', '304 Not Modified', '103 Early Hints']) {
      for (const value of ['', 'a 0', '1, 1']) {
        assert.throws(
          () => parse([bytes(`HTTP/1.1 ${status}\r\nContent-Length: ${value}\r\n\r\n`)]),
          isParseError(/content-length/),
          `${status}, Content-Length: ${value}`,
        );
      }
    }
  });

  test('an interim answer that closes the connection leaves no room for the final one', () => {
    for (const head of ['HTTP/1.1 103 Early Hints\r\nConnection: close', 'HTTP/1.0 102 Processing']) {
      assert.throws(
        () => parse([bytes(`${head}\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`)]),
        isParseError(/interim answer that closes/),
        head,
      );
    }
  });
});
