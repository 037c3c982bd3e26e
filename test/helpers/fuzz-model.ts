// The fuzzing's model of a request and of what each end must answer to it: the request as bytes, the header
// values as uWS hands them to a route, docs/protocol.md's checks in their order, and the envelope checks every answer
// gets. Used by test/fuzz.test.ts (the arbitraries that generate requests are in fuzz-arbitraries.ts).
import assert from 'node:assert/strict';
import net from 'node:net';
import { MasterErrorCode, SlaveErrorCode } from '../../src/index.ts';
import { parseAnswers, type RawAnswer } from './raw-http.ts';

/** Small, so bodies over the cap are cheap to send. */
export const kMaxBody = 2048;
/** Liveness bound for a well-formed request (answers come in milliseconds; this is only "not hung"). */
export const kAnswerLimitMs = 5000;
/** How long to watch a request with bytes HTTP forbids before recording that uWS held it. */
const kHostileWatchMs = 300;

// ---------- what the two ends may answer ----------

export type Side = 'master' | 'slave';

/** The HTTP status each code goes with (docs/protocol.md's tables, fleetmaster's 9xx rows included). */
export const kStatusOf: Record<Side, Map<number, number>> = {
  master: new Map([
    [MasterErrorCode.SUCCESS, 200],
    [MasterErrorCode.SYSTEM_SHUTTING_DOWN, 401],
    [MasterErrorCode.CHANNEL_NOT_GIVEN, 400],
    [MasterErrorCode.CHANNEL_INVALID, 403],
    [MasterErrorCode.MASTER_TOKEN_NOT_GIVEN, 400],
    [MasterErrorCode.MASTER_TOKEN_INVALID, 403],
    [MasterErrorCode.SELF_TOKEN_NOT_GIVEN, 400],
    [MasterErrorCode.SELF_TOKEN_INVALID, 403],
    [MasterErrorCode.SLAVE_TOKEN_NOT_GIVEN, 400],
    [MasterErrorCode.SLAVE_TOKEN_INVALID, 403],
    [MasterErrorCode.TASK_DATA_INVALID, 400],
    [MasterErrorCode.REQUEST_BODY_TOO_LARGE, 413],
    [MasterErrorCode.RESULT_STAGE_BUSY, 503],
    [MasterErrorCode.ROUTE_NOT_FOUND, 404],
    [MasterErrorCode.METRICS_FAILED, 500],
    [MasterErrorCode.REQUEST_MALFORMED, 400],
    [MasterErrorCode.REQUEST_DATA_INVALID, 400],
    [MasterErrorCode.QUEUE_FULL, 503],
    [MasterErrorCode.TASK_NOT_FOUND, 404],
    // the admin listener only (a Host not allowed): the front end never answers it
    [MasterErrorCode.HOST_NOT_ALLOWED, 403],
  ]),
  slave: new Map([
    [SlaveErrorCode.SUCCESS, 200],
    [SlaveErrorCode.SYSTEM_SHUTTING_DOWN, 401],
    [SlaveErrorCode.CHANNEL_NOT_FOUND, 400],
    [SlaveErrorCode.CHANNEL_INVALID, 403],
    [SlaveErrorCode.MASTER_TOKEN_NOT_FOUND, 400],
    [SlaveErrorCode.MASTER_TOKEN_INVALID, 403],
    [SlaveErrorCode.SELF_TOKEN_NOT_FOUND, 400],
    [SlaveErrorCode.SELF_TOKEN_INVALID, 403],
    [SlaveErrorCode.SLAVE_ALREADY_CONNECTED, 400],
    [SlaveErrorCode.SLAVE_NOT_CONNECTED, 400],
    [SlaveErrorCode.SLAVE_CONNECTION_REFUSED, 403],
    [SlaveErrorCode.SLAVE_DISCONNECTION_REFUSED, 403],
    [SlaveErrorCode.TASK_ALREADY_EXIST, 400],
    [SlaveErrorCode.TASK_REFUSED, 403],
    [SlaveErrorCode.REQUEST_BODY_TOO_LARGE, 413],
    [SlaveErrorCode.ROUTE_NOT_FOUND, 404],
    [SlaveErrorCode.REQUEST_DATA_INVALID, 400],
    [SlaveErrorCode.REQUEST_MALFORMED, 400],
    [SlaveErrorCode.UPLOADS_BUSY, 503],
  ]),
};

// ---------- findings: what uWS does with bytes outside HTTP (recorded, never failed on) ----------

export const findings = new Map<string, { count: number; example: string }>();

/** Which codes each end answered, to see that the fuzzing reaches past the header checks. */
export const coverage = new Map<string, number>();

function note(what: string, example: string): void {
  const seen = findings.get(what);
  if (seen) seen.count++;
  else findings.set(what, { count: 1, example: example.slice(0, 160) });
}

// ---------- the request model ----------

export interface Header {
  name: string;
  /** Latin-1: one character per byte on the wire. */
  value: string;
}

export type BodyCodec = 'json' | 'msgpack' | 'other';
/** What a body decodes to when read with the codec it was written in (docs/protocol.md's checks, in order). */
export type BodyShape =
  | 'result' // {task: {id: <uuid>}, result}
  | 'task' // {task: {id: <uuid>}, data}
  | 'bad-task-id' // an object whose task.id is missing or not a UUID
  | 'connect' // {master: {address: http://…}, data}
  | 'object' // some other object
  | 'not-object' // decodes, but to an array, a number, null, …
  | 'invalid' // does not decode
  | 'unknown'; // random: any of the above

export interface FuzzBody {
  kind: string;
  bytes: Buffer;
  codec: BodyCodec;
  shape: BodyShape;
}

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Header[];
  body: FuzzBody | undefined;
  chunked: boolean;
}

export const kStandardMethods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
/** True for a byte HTTP forbids in a header value (HTAB is allowed; CR and LF would end the line). */
function isControl(code: number): boolean {
  return code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d;
}

function hasByte(text: string, test: (code: number) => boolean): boolean {
  for (let i = 0; i < text.length; i++) if (test(text.charCodeAt(i))) return true;
  return false;
}

import { kFirstWins, kNodeLimits } from '../../src/http/engines/node.ts';
import { kControlBodyBytes } from '../../src/slave/front-end.ts';

/** The engine under test: what a route sees of a header, and which bytes its parser refuses, depend on it. */
let engine: 'uws' | 'node' = 'uws';

export function setEngine(name: 'uws' | 'node'): void {
  engine = name;
}

/**
 * Why a request is outside HTTP/1.1 as the engine parses it, or undefined when it is a well-formed request. Both
 * refuse unknown methods and control bytes; uWS also holds a request with more than about 48 header lines
 * (observed: 46 answered, 50 held), while node takes up to 100.
 */
export function hostility(req: FuzzRequest): string | undefined {
  if (!kStandardMethods.includes(req.method)) return `method ${JSON.stringify(req.method.slice(0, 20))}`;
  if (hasByte(req.path, (c) => c <= 0x20 || c === 0x7f)) return 'a space or control byte in the path';
  if (req.headers.some((h) => hasByte(h.value, isControl))) return 'a control byte in a header value';
  if (engine === 'uws' && req.headers.length >= 48) return 'more headers than uWS takes';
  if (engine === 'node' && hasByte(req.path, (c) => c >= 0x80)) return 'a byte >= 0x80 in the path';
  if (engine === 'node' && req.headers.some((h) => hasByte(h.value, (c) => c === 0x7f))) {
    return 'a DEL byte in a header value';
  }
  // node refuses a head over 16 KiB (the request line counts; a margin keeps the model on the safe side)
  const head = req.headers.reduce((n, h) => n + h.name.length + h.value.length + 4, req.path.length + 40);
  if (engine === 'node' && head > kNodeLimits.maxHeaderSize - 1024) return 'headers larger than node takes';
  return undefined;
}

/**
 * The value a route is handed. uWS: the first such header, trimmed of spaces, tabs and bytes >= 0x80 at both ends
 * (observed). node: spaces and tabs trimmed; repeated headers joined with ', ' except those node keeps the first of.
 */
export function seen(req: FuzzRequest, name: string): string {
  const headers = req.headers.filter((h) => h.name.toLowerCase() === name);
  if (headers.length === 0) return '';
  if (engine === 'uws') return headers[0]!.value.replace(/^[ \t\x80-\xff]+|[ \t\x80-\xff]+$/g, '');
  const values = headers.map((h) => h.value.replace(/^[ \t]+|[ \t]+$/g, ''));
  if (kFirstWins.has(name)) return values[0]!;
  return values.join(name === 'cookie' ? '; ' : ', ');
}

export function encode(req: FuzzRequest): Buffer {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const h of req.headers) lines.push(`${h.name}: ${h.value}`);
  let body: Buffer = Buffer.alloc(0);
  if (req.body && req.chunked) {
    lines.push('Transfer-Encoding: chunked');
    const parts: Buffer[] = [];
    const bytes = req.body.bytes;
    const step = Math.max(1, Math.ceil(bytes.length / 3));
    for (let at = 0; at < bytes.length; at += step) {
      const piece = bytes.subarray(at, at + step);
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    body = Buffer.concat(parts);
  } else if (req.body) {
    lines.push(`Content-Length: ${req.body.bytes.length}`);
    body = req.body.bytes;
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

export function describeRequest(req: FuzzRequest): string {
  const headers = req.headers.map((h) => `${h.name}: ${JSON.stringify(h.value.slice(0, 70))}`).join('; ');
  const body = req.body
    ? `${req.body.kind} (${req.body.codec}, ${req.body.bytes.length} B${req.chunked ? ', chunked' : ''})`
    : 'no body';
  return `${JSON.stringify(req.method)} ${JSON.stringify(req.path.slice(0, 80))} [${headers}] ${body}`;
}

// ---------- what the model predicts ----------

export interface Expectation {
  codes: number[];
  /** The message must match (e.g. "ignored" for a result nobody waits for). */
  message?: RegExp;
  /** The server may close before the answer is read (413 with the body unread: the kernel may reset). */
  mayDrop?: boolean;
}

export interface Context {
  side: Side;
  /** An unconnected slave that fuzzed /connect requests may connect: past the header checks, anything goes. */
  loose?: boolean;
  /** Tokens the end accepts on its protocol routes. */
  validTokens: Set<string>;
  selfToken: string;
}

export const kMasterRoutes: Record<string, 'beat' | 'result' | 'self' | 'metrics'> = {
  'GET /slave/heartbeat': 'beat',
  'PUT /slave/task/complete': 'result',
  'PUT /slave/task/fail': 'result',
  'GET /ping': 'self',
  'DELETE /shutdown': 'self',
  'GET /status': 'self',
  // behind the self token; the fuzzed master runs without metrics, so the right token finds no route
  'GET /metrics': 'metrics',
};

export const kSlaveRoutes: Record<string, 'connect' | 'disconnect' | 'task' | 'self'> = {
  'POST /connect': 'connect',
  'DELETE /disconnect': 'disconnect',
  'POST /task/new': 'task',
  'GET /ping': 'self',
  'DELETE /shutdown': 'self',
};

function isMsgpackType(contentType: string): boolean {
  return contentType.startsWith('application/msgpack') || contentType.startsWith('application/x-msgpack');
}

/** What a body decodes to on the server, given the Content-Type the server sees. */
function shapeOnServer(req: FuzzRequest): BodyShape {
  const body = req.body;
  if (body === undefined || body.bytes.length === 0) {
    // an absent JSON body reads as {}; an empty MessagePack body does not decode
    return isMsgpackType(seen(req, 'content-type')) ? 'invalid' : 'object';
  }
  if (body.shape === 'unknown') return 'unknown';
  const asMsgpack = isMsgpackType(seen(req, 'content-type'));
  if (body.codec === 'other') return body.shape;
  // read with the other codec, a well-formed body is garbage (binary is not JSON; JSON text is several
  // MessagePack values or an integer); leave it to "unknown" rather than guess msgpackr's verdict
  if ((body.codec === 'msgpack') !== asMsgpack) return body.codec === 'msgpack' ? 'invalid' : 'unknown';
  return body.shape;
}

function overCap(req: FuzzRequest): boolean {
  return (req.body?.bytes.length ?? 0) > kMaxBody;
}

export function expectMaster(req: FuzzRequest, ctx: Context): Expectation {
  const C = MasterErrorCode;
  const route = kMasterRoutes[`${req.method} ${req.path.split('?')[0]}`];
  if (route === undefined) return { codes: [C.ROUTE_NOT_FOUND] };
  if (route === 'self' || route === 'metrics') {
    let token = seen(req, 'token');
    const authorization = seen(req, 'authorization');
    if (token === '' && authorization.startsWith('Bearer ')) token = authorization.slice(7).trim();
    if (token === '') return { codes: [C.SELF_TOKEN_NOT_GIVEN] };
    if (token !== ctx.selfToken) return { codes: [C.SELF_TOKEN_INVALID] };
    return { codes: [route === 'self' ? C.SUCCESS : C.ROUTE_NOT_FOUND] };
  }
  const channel = seen(req, 'channel');
  if (channel === '') return { codes: [C.CHANNEL_NOT_GIVEN] };
  if (channel !== '0') return { codes: [C.CHANNEL_INVALID] };
  const token = seen(req, 'token');
  if (token === '') return { codes: [C.SLAVE_TOKEN_NOT_GIVEN] };
  if (!ctx.validTokens.has(token)) return { codes: [C.SLAVE_TOKEN_INVALID] };
  if (route === 'beat') return { codes: [C.SUCCESS], message: /^Received!$/ };
  if (overCap(req)) return { codes: [C.REQUEST_BODY_TOO_LARGE], mayDrop: true };
  const shape = shapeOnServer(req);
  // no task runs while fuzzing, so a well-formed result is acknowledged as ignored; a Task-Id header counts only
  // with the task-id extension announced, and then a different id in the body makes the result invalid
  const hinted = seen(req, 'task-id') !== '' && /(^|,)\s*task-id\s*(,|$)/.test(seen(req, 'fleet-extensions'));
  if (shape === 'result' && hinted) return { codes: [C.SUCCESS, C.TASK_DATA_INVALID] };
  if (shape === 'result') return { codes: [C.SUCCESS], message: /ignored/i };
  if (shape === 'unknown') return { codes: [C.SUCCESS, C.TASK_DATA_INVALID] };
  return { codes: [C.TASK_DATA_INVALID] };
}

export function expectSlave(req: FuzzRequest, ctx: Context): Expectation {
  const C = SlaveErrorCode;
  const route = kSlaveRoutes[`${req.method} ${req.path.split('?')[0]}`];
  if (route === undefined) return { codes: [C.ROUTE_NOT_FOUND] };
  if (route === 'self') {
    const token = seen(req, 'token');
    if (token === '') return { codes: [C.SELF_TOKEN_NOT_FOUND] };
    return { codes: token === ctx.selfToken ? [C.SUCCESS] : [C.SELF_TOKEN_INVALID] };
  }
  const channel = seen(req, 'channel');
  if (channel === '') return { codes: [C.CHANNEL_NOT_FOUND] };
  if (channel !== '0') return { codes: [C.CHANNEL_INVALID] };
  const token = seen(req, 'token');
  if (token === '') return { codes: [C.MASTER_TOKEN_NOT_FOUND] };
  if (route !== 'connect' && !ctx.validTokens.has(token)) return { codes: [C.MASTER_TOKEN_INVALID] };
  if (route !== 'task') {
    // /connect and /disconnect: JSON only, a few KiB (src/slave/front-end.ts), judged from the headers
    if (isMsgpackType(seen(req, 'content-type'))) return { codes: [C.REQUEST_DATA_INVALID] };
    if ((req.body?.bytes.length ?? 0) > Math.min(kControlBodyBytes, kMaxBody)) {
      return { codes: [C.REQUEST_BODY_TOO_LARGE], mayDrop: true };
    }
  }
  if (overCap(req)) return { codes: [C.REQUEST_BODY_TOO_LARGE], mayDrop: true };
  const shape = shapeOnServer(req);
  if (shape === 'invalid' || shape === 'not-object') return { codes: [C.REQUEST_DATA_INVALID] };
  // the fuzzed slave is connected, and refuses every disconnection (so its token stays valid)
  const maybeInvalid = shape === 'unknown' ? [C.REQUEST_DATA_INVALID] : [];
  if (route === 'connect') return { codes: [C.SLAVE_ALREADY_CONNECTED, ...maybeInvalid] };
  if (route === 'disconnect') return { codes: [C.SLAVE_DISCONNECTION_REFUSED, ...maybeInvalid] };
  // /task/new: a task may still be running from an earlier request (601 is checked before the id)
  if (shape === 'task') return { codes: [C.SUCCESS, C.TASK_ALREADY_EXIST] };
  if (shape === 'unknown') return { codes: [C.SUCCESS, C.TASK_ALREADY_EXIST, C.REQUEST_DATA_INVALID] };
  return { codes: [C.TASK_ALREADY_EXIST, C.REQUEST_DATA_INVALID] };
}

/**
 * The unconnected slave: its master token is whichever a fuzzed /connect last installed (and it drops it again
 * at the first failed heartbeat), so past the channel and empty-token checks any answer of the table will do.
 */
export function expectLoner(req: FuzzRequest, ctx: Context): Expectation {
  const C = SlaveErrorCode;
  const strict = expectSlave(req, ctx);
  const route = kSlaveRoutes[`${req.method} ${req.path.split('?')[0]}`];
  if (route === undefined || route === 'self') return strict;
  if (seen(req, 'channel') !== '0' || seen(req, 'token') === '') return strict;
  const headerCodes: number[] = [
    C.CHANNEL_NOT_FOUND,
    C.CHANNEL_INVALID,
    C.MASTER_TOKEN_NOT_FOUND,
    C.ROUTE_NOT_FOUND,
  ];
  const codes = [...kStatusOf.slave.keys()].filter((c) => !headerCodes.includes(c));
  return { codes, mayDrop: overCap(req) };
}

export function expectFor(req: FuzzRequest, ctx: Context): Expectation {
  if (ctx.side === 'master') return expectMaster(req, ctx);
  return ctx.loose ? expectLoner(req, ctx) : expectSlave(req, ctx);
}

// ---------- sending and judging ----------

export interface Outcome {
  answers: RawAnswer[];
  closed: boolean;
  data: Buffer;
}

/** Sends the bytes on a fresh socket; settles at the first final answer, at close, or after `limitMs`. */
export function exchange(port: number, bytes: Buffer, limitMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers: parseAnswers(data).answers, closed, data });
    };
    const timer = setTimeout(() => finish(false), limitMs);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (parseAnswers(data).answers.some((a) => a.status >= 200)) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

/** The envelope checks every answer gets, whatever was sent. Returns the envelope. */
export function assertWellFormed(answer: RawAnswer, side: Side, label: string) {
  const status = kStatusOf[side];
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/, `content-type; ${label}`);
  let value: unknown;
  try {
    value = JSON.parse(answer.body);
  } catch {
    assert.fail(`the body is not JSON: ${JSON.stringify(answer.body.slice(0, 200))}; ${label}`);
  }
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `an object; ${label}`);
  assert.deepEqual(Object.keys(value).sort(), ['code', 'data', 'message', 'success'], `keys; ${label}`);
  const envelope = value as { success: unknown; code: unknown; message: unknown; data: unknown };
  assert.equal(typeof envelope.code, 'number', `code type; ${label}`);
  const code = envelope.code as number;
  assert.ok(status.has(code), `code ${code} is in the ${side}'s table; ${label}`);
  assert.equal(answer.status, status.get(code), `HTTP status goes with code ${code}; ${label}`);
  assert.equal(envelope.success, code === 0, `success; ${label}`);
  assert.equal(typeof envelope.message, 'string', `message type; ${label}`);
  assert.notEqual(envelope.message, '', `message empty; ${label}`);
  return { code, message: envelope.message as string };
}

/** Sends one fuzzed request and checks what came back against the model. */
export async function probe(port: number, req: FuzzRequest, ctx: Context): Promise<void> {
  const label = `${ctx.side}: ${describeRequest(req)}`;
  const hostile = hostility(req);
  const outcome = await exchange(port, encode(req), hostile ? kHostileWatchMs : kAnswerLimitMs);
  for (const interim of outcome.answers.filter((a) => a.status < 200)) {
    note(`${ctx.side}: interim ${interim.status} answer before the final one`, label);
  }
  const answer = outcome.answers.find((a) => a.status >= 200);
  if (answer === undefined) {
    const how = outcome.closed ? 'closed without an answer' : 'held open without an answer';
    if (req.method === 'HEAD' && outcome.data.includes('\r\n\r\n')) {
      note(`${ctx.side}: HEAD answered with headers only`, label);
      return;
    }
    if (hostile) {
      note(`${ctx.side}: ${hostile.replace(/ ".*"$/, '')}: ${how}`, label);
      return;
    }
    const expected = expectFor(req, ctx);
    if (expected.mayDrop && outcome.closed) {
      note(`${ctx.side}: body over the cap: connection reset before the 413 was read`, label);
      return;
    }
    assert.fail(`${how} (a well-formed request must be answered); ${label}`);
  }
  // a request the parser refused is answered as one (node: 400, 906, with its body), whatever its method
  if (req.method === 'HEAD' && !(hostile && answer.body !== '')) {
    // no route takes HEAD: the 404's status and headers, and no body (a body would desync a keep-alive client)
    assert.equal(answer.body, '', `a HEAD answer carries no body; ${label}`);
    assert.equal(answer.status, 404, `HEAD is not routed; ${label}`);
    return;
  }
  const envelope = assertWellFormed(answer, ctx.side, label);
  const key = `${ctx.side} ${answer.status}/${envelope.code}`;
  coverage.set(key, (coverage.get(key) ?? 0) + 1);
  if (hostile) {
    note(`${ctx.side}: ${hostile.replace(/ ".*"$/, '')}: answered ${answer.status}`, label);
    return;
  }
  const expected = expectFor(req, ctx);
  assert.ok(
    expected.codes.includes(envelope.code),
    `code ${envelope.code} (${envelope.message}), expected one of ${expected.codes.join(', ')}; ${label}`,
  );
  if (expected.message && envelope.code === 0) {
    assert.match(envelope.message, expected.message, label);
  }
}
