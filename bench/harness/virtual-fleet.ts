/**
 * The virtual fleet: thousands of slaves in one process, speaking the real protocol on the wire. A handful of
 * uWS apps share the slaves (they tell themselves apart by the token the master sends on `POST /connect`); one
 * timer wheel drives every heartbeat; H1Clients (up to one per slave and kind) carry heartbeats and results.
 *
 * Each virtual slave answers as src/slave does, with src/slave's own answers and extensions (so it cannot drift
 * from the real slave): `/connect` (any token while unknown), `/task/new` (one task at a time), `/disconnect`; it
 * reports each result with `PUT /slave/task/complete` and the fleetmaster extensions (`Task-Id`, backpressure: a
 * 503 is retried after `data.retryAfterMs`). A slave can be killed (`kill`), as a SIGKILLed process looks to its
 * master: no more heartbeats, no result for the task it held, and every request to it cut off. The fleet and
 * chaos benchmarks run it in their own process; the result-pool benchmark in a child (`setup`), so the result
 * senders never share its event loop.
 */

import { randomBytes } from 'node:crypto';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { H1Client } from '../../src/client/h1-client.ts';
import type { HttpApp, HttpRequest, HttpResponse } from '../../src/http/engine.ts';
import { selectEngine } from '../../src/http/select-engine.ts';
import { kSilentLogger } from '../../src/options.ts';
import { decodeBody, encodeBody, isObject, kJson, kMsgpack } from '../../src/protocol/codec.ts';
import type { Answer } from '../../src/protocol/envelope.ts';
import { kExtensionsHeader, kOurExtensions } from '../../src/protocol/extensions.ts';
import { kSlaveAnswers, slaveDataInvalid } from '../../src/slave/answers.ts';
import { type HistogramSummary, summariseHistogram } from './report.ts';

export interface FleetSimOptions {
  /** uWS apps (ports) the slaves share. */
  ports: number;
  /** Seconds between two heartbeats of one slave. */
  heartbeatSpan: number;
  /** Each span is stretched or shrunk by up to this fraction, at random. */
  heartbeatJitter: number;
  /** Size of the result payload's padding string, in bytes. */
  resultBytes: number;
  /** Busy-loop this many microseconds per task (on this process's one thread: the fleet's tasks queue). @defaultValue 0 */
  workUs?: number;
  /** Sleep this many milliseconds per task (timers: tasks overlap). @defaultValue 0 */
  sleepMs?: number;
  /** Send results as MessagePack (the master announces it on `/connect`). @defaultValue false */
  msgpack?: boolean;
  /**
   * Keep-alive sockets to each master, per kind (heartbeats, results). Slave i always uses socket i mod this, as
   * a real slave keeps its own connection; when it is at least the fleet size, every slave has its own sockets.
   */
  sockets: number;
  /** Heartbeats in flight at once on one heartbeat socket (slaves sharing a socket do not wait for each other). */
  beatPipelining: number;
  /** A request not answered within this many milliseconds fails. @defaultValue 10 s */
  timeoutMs?: number;
  /** A heartbeat answered later than this many milliseconds is late. @defaultValue 100 */
  lateMs?: number;
}

/** Counters since the fleet started (never reset). */
export interface SimCounters {
  /** `/task/new` refused: unknown token, slave busy, bad body. */
  tasksRefused: number;
  resultsSent: number;
  /** 503 answers to a result (the master's stage was full): sent again after `retryAfterMs`. */
  resultsPushedBack: number;
  /** Any other non-200 answer to a result. */
  resultsRefused: number;
  /** Results given up after connection-level failures. */
  resultErrors: number;
  beats: number;
  /** Heartbeats answered with anything but 200: the master no longer knows the slave (false eviction). */
  beatsRefused: number;
  /** The first refusal of each kind, for the report. */
  firstProblems: string[];
}

/** What the slaves of one master saw over a window the caller opens and closes (latencies in µs). */
interface Window {
  started: number;
  /** Heartbeats answered 200, answered otherwise, failed at the connection level. */
  ok: number;
  refused: number;
  errors: number;
  late: number;
  /** Beats a slave could not send because its previous one took longer than a span. */
  skipped: number;
  statuses: Record<string, number>;
  /** Send → answer of answered heartbeats; send time − due time (the fleet's own lag); result round trips. */
  beats: RecordableHistogram;
  lag: RecordableHistogram;
  results: RecordableHistogram;
}

export interface WindowSummary extends Omit<Window, 'started' | 'beats' | 'lag' | 'results'> {
  seconds: number;
  beatMs: HistogramSummary;
  lagMs: HistogramSummary;
  resultMs: HistogramSummary;
}

interface Target {
  origin: string;
  window: Window;
  /** Created on first use; slave i uses index i mod length. */
  beats: (H1Client | undefined)[];
  results: (H1Client | undefined)[];
}

interface VirtualSlave {
  readonly token: string;
  readonly seq: number;
  readonly target: Target;
  readonly beatClient: H1Client;
  readonly resultClient: H1Client;
  /** Header lines of a heartbeat, and the fixed ones of a result (Task-Id is added per result). */
  readonly beatHeaders: string;
  readonly resultHeaders: string;
  busy: boolean;
  beaten: boolean;
  /** Disconnected, refused by the master, dropped or killed: no more beats. */
  gone: boolean;
  /** Killed: nothing more leaves it (no result, no retry), and every request to it is cut off. */
  killed: boolean;
  due: number;
}

const kChannel = '0';

/** `Math.random`-free even spread: the golden-ratio sequence covers [0, 1) evenly for every prefix. */
export function firstBeatPhase(seq: number): number {
  return (seq * 0.6180339887498949) % 1;
}

/** The master's `data.retryAfterMs` (else 1 s), spread ±50% as fleetmaster's slave spreads it. */
export function retryDelayMs(text: string): number {
  let hinted: unknown;
  try {
    hinted = (JSON.parse(text) as { data?: { retryAfterMs?: unknown } }).data?.retryAfterMs;
  } catch {}
  const base = typeof hinted === 'number' && hinted > 0 ? hinted : 1000;
  return Math.min(30_000, Math.max(10, base)) * (0.5 + Math.random());
}

const histogram = () => createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 });
const newWindow = (): Window => ({
  started: performance.now(),
  ok: 0,
  refused: 0,
  errors: 0,
  late: 0,
  skipped: 0,
  statuses: {},
  beats: histogram(),
  lag: histogram(),
  results: histogram(),
});

/** Records the time since `started` (ms, from `performance.now()`) in microseconds. */
const record = (h: RecordableHistogram, started: number) =>
  h.record(Math.max(1, Math.round((performance.now() - started) * 1000)));

/** The timer wheel: one timer for every heartbeat of the fleet, in `kTickMs` buckets. */
const kTickMs = 2;

export class VirtualFleet {
  readonly options: Required<FleetSimOptions>;
  readonly counters: SimCounters = {
    tasksRefused: 0,
    resultsSent: 0,
    resultsPushedBack: 0,
    resultsRefused: 0,
    resultErrors: 0,
    beats: 0,
    beatsRefused: 0,
    firstProblems: [],
  };
  readonly #apps: HttpApp[] = [];
  readonly #ports: number[] = [];
  readonly #slaves = new Map<string, VirtualSlave>();
  /** Killed slaves, by token, until their master is dropped: bounded by what the caller kills. */
  readonly #killed = new Map<string, VirtualSlave>();
  readonly #targets = new Map<string, Target>();
  readonly #spanMs: number;
  readonly #epoch = performance.now();
  readonly #buckets: VirtualSlave[][];
  #nextBucket: number;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #closed = false;
  #ready: { slave: VirtualSlave; id: string }[] = [];
  #drainScheduled = false;
  readonly #resultPayload: { pad: string };
  readonly #resultSuffix: string;

  private constructor(options: FleetSimOptions) {
    this.options = { workUs: 0, sleepMs: 0, msgpack: false, timeoutMs: 10_000, lateMs: 100, ...options };
    this.#spanMs = options.heartbeatSpan * 1000;
    // the longest a beat can be scheduled ahead: one stretched span, plus slack
    const horizonMs = this.#spanMs * (1 + options.heartbeatJitter) + 100;
    this.#buckets = Array.from({ length: Math.ceil(horizonMs / kTickMs) + 2 }, () => []);
    this.#nextBucket = Math.floor(this.#epoch / kTickMs);
    this.#resultPayload = { pad: 'x'.repeat(options.resultBytes) };
    this.#resultSuffix = `"},"result":${JSON.stringify(this.#resultPayload)}}`;
  }

  /** Listens on `options.ports` free ports of 127.0.0.1 and starts the heartbeat wheel. */
  static async start(options: FleetSimOptions): Promise<VirtualFleet> {
    const fleet = new VirtualFleet(options);
    try {
      for (let i = 0; i < options.ports; i++) await fleet.#listen();
    } catch (err) {
      await fleet.close();
      throw err;
    }
    fleet.#timer = setInterval(() => fleet.#tick(), kTickMs);
    return fleet;
  }

  /** The ports the virtual slaves answer on. */
  get ports(): readonly number[] {
    return this.#ports;
  }

  /** Virtual slaves alive (connected and not refused). */
  get size(): number {
    return this.#slaves.size;
  }

  /** Virtual slaves killed (of masters not dropped since). */
  get killed(): number {
    return this.#killed.size;
  }

  /** Virtual slaves alive whose first heartbeat was answered 200. */
  get beating(): number {
    let n = 0;
    for (const slave of this.#slaves.values()) if (slave.beaten) n++;
    return n;
  }

  /** Closes every master's window and opens fresh ones (the counters keep running); returns the closed ones. */
  takeWindows(): Map<string, WindowSummary> {
    const closed = new Map<string, WindowSummary>();
    for (const target of this.#targets.values()) {
      const { started, beats, lag, results, ...counts } = target.window;
      closed.set(target.origin, {
        seconds: (performance.now() - started) / 1000,
        ...counts,
        beatMs: summariseHistogram(beats, 1000),
        lagMs: summariseHistogram(lag, 1000),
        resultMs: summariseHistogram(results, 1000),
      });
      target.window = newWindow();
    }
    return closed;
  }

  /**
   * Adds `count` slaves that heartbeat to `address` without any `/connect` (for a master that only answers
   * heartbeats, such as the raw-uWS null master).
   */
  addDirect(count: number, address: string): void {
    for (let i = 0; i < count; i++) this.#add(randomBytes(32).toString('hex'), address);
  }

  /**
   * Kills the slaves with these tokens, as SIGKILL would: they stop heartbeating, never report the task they
   * hold, and cut off every request the master sends them (the socket is closed unanswered). Returns how many
   * were alive.
   */
  kill(tokens: Iterable<string>): number {
    let killed = 0;
    for (const token of tokens) {
      const slave = this.#slaves.get(token);
      if (slave === undefined) continue;
      this.#slaves.delete(token);
      slave.gone = true;
      slave.killed = true;
      this.#killed.set(token, slave);
      killed++;
    }
    return killed;
  }

  /** Kills `count` slaves of the master at `origin`, chosen at random (uniformly); returns their tokens. */
  killRandom(count: number, origin: string): string[] {
    const alive = [...this.#slaves.values()].filter((s) => s.target.origin === origin).map((s) => s.token);
    const chosen: string[] = [];
    while (chosen.length < count && alive.length > 0) {
      const i = Math.floor(Math.random() * alive.length);
      chosen.push(alive[i]!);
      alive[i] = alive[alive.length - 1]!;
      alive.pop();
    }
    this.kill(chosen);
    return chosen;
  }

  /** Forgets the slaves of the master at `origin` (every master when undefined) and closes their sockets. */
  drop(origin?: string): void {
    for (const [token, slave] of this.#slaves) {
      if (origin !== undefined && slave.target.origin !== origin) continue;
      slave.gone = true;
      this.#slaves.delete(token);
    }
    for (const [token, slave] of this.#killed) {
      if (origin === undefined || slave.target.origin === origin) this.#killed.delete(token);
    }
    for (const target of [...this.#targets.values()]) {
      if (origin !== undefined && target.origin !== origin) continue;
      this.#targets.delete(target.origin);
      for (const client of [...target.beats, ...target.results]) client?.destroy();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.drop();
    await Promise.all(this.#apps.map((app) => app.close()));
  }

  // ---- the routes ----

  async #listen(): Promise<void> {
    // the same engine a master of this process would take: uws where its native build loads, else node:http
    const app = selectEngine('auto', kSilentLogger).createApp({ malformed: kSlaveAnswers.malformed });
    app.post('/connect', (res, req) => this.#route(res, req, 'connect'));
    app.post('/task/new', (res, req) => this.#route(res, req, 'task'));
    app.del('/disconnect', (res, req) => this.#route(res, req, 'disconnect'));
    app.any('/*', (res) => reply(res, kSlaveAnswers.routeNotFound, true));
    this.#apps.push(app);
    this.#ports.push(await app.listen('127.0.0.1', 0, 'the virtual fleet'));
  }

  /** src/slave/front-end.ts's checks, in its order (a killed slave answers nothing at all). */
  #route(res: HttpResponse, req: HttpRequest, route: 'connect' | 'task' | 'disconnect') {
    const channel = req.getHeader('channel');
    const token = req.getHeader('token');
    if (this.#killed.has(token)) {
      res.close();
      return;
    }
    if (channel !== kChannel) {
      return reply(res, channel === '' ? kSlaveAnswers.channelNotFound : kSlaveAnswers.channelInvalid, true);
    }
    if (token === '') return reply(res, kSlaveAnswers.masterTokenNotFound, true);
    const slave = this.#slaves.get(token);
    if (route !== 'connect' && slave === undefined) {
      if (route === 'task') this.counters.tasksRefused++;
      return reply(res, kSlaveAnswers.masterTokenInvalid, true);
    }
    const contentType = req.getHeader('content-type');
    readBody(res, (body) => {
      const decoded = decodeBody(body, contentType);
      let answer: Answer;
      if (!decoded.ok) answer = slaveDataInvalid(decoded.message);
      else if (!isObject(decoded.value)) answer = slaveDataInvalid('Body is not an object.');
      else if (route === 'connect') answer = this.#connect(token, decoded.value);
      else if (route === 'task') answer = this.#task(slave!, decoded.value);
      else {
        this.#slaves.delete(token);
        slave!.gone = true;
        answer = kSlaveAnswers.disconnected;
      }
      res.cork(() => reply(res, answer, false, route === 'connect'));
    });
  }

  #connect(token: string, body: Record<string, unknown>): Answer {
    if (this.#slaves.has(token) || this.#closed) return kSlaveAnswers.alreadyConnected;
    const master = body.master;
    const address = isObject(master) ? master.address : undefined;
    if (typeof address !== 'string' || !/^https?:\/\//.test(address)) {
      return slaveDataInvalid('Master address not found (expected master.address as http://host:port).');
    }
    this.#add(token, address);
    return kSlaveAnswers.connected;
  }

  #task(slave: VirtualSlave, body: Record<string, unknown>): Answer {
    if (slave.busy) {
      this.counters.tasksRefused++;
      return kSlaveAnswers.taskAlreadyExist;
    }
    const id = isObject(body.task) ? body.task.id : undefined;
    if (typeof id !== 'string' || id === '') {
      this.counters.tasksRefused++;
      return slaveDataInvalid('Task ID not found.');
    }
    slave.busy = true;
    // the answer goes out first (as src/slave: the task runs on a later turn)
    if (this.options.sleepMs > 0) {
      setTimeout(() => this.#finish(slave, id), this.options.sleepMs);
    } else {
      this.#ready.push({ slave, id });
      if (!this.#drainScheduled) {
        this.#drainScheduled = true;
        setImmediate(this.#drain);
      }
    }
    return kSlaveAnswers.taskReceived;
  }

  #drain = (): void => {
    this.#drainScheduled = false;
    const ready = this.#ready;
    this.#ready = [];
    for (const { slave, id } of ready) {
      if (this.options.workUs > 0) busyWait(this.options.workUs);
      this.#finish(slave, id);
    }
  };

  // ---- results ----

  #finish(slave: VirtualSlave, id: string): void {
    // free the slot before reporting, as the reference does: the master may send the next task at once
    slave.busy = false;
    if (slave.gone || this.#closed) return;
    const body = this.options.msgpack
      ? encodeBody({ task: { id }, result: this.#resultPayload }, kMsgpack)
      : `{"task":{"id":"${id}${this.#resultSuffix}`;
    this.#report(slave, `${slave.resultHeaders}task-id: ${id}\r\n`, body, 0);
  }

  #report(slave: VirtualSlave, headers: string, body: string | Buffer, failures: number): void {
    // a killed slave sends nothing more, not even a result it was retrying
    if (this.#closed || slave.killed) return;
    const started = performance.now();
    // fleetmaster's lean H1Client, not undici: the simulator's CPU is the master's too
    slave.resultClient.request('PUT', '/slave/task/complete', headers, body).then(
      (answer) => {
        if (answer.statusCode === 200) {
          this.counters.resultsSent++;
          return record(slave.target.window.results, started);
        }
        if (answer.statusCode === 503) {
          this.counters.resultsPushedBack++;
          setTimeout(() => this.#report(slave, headers, body, failures), retryDelayMs(answer.text)).unref();
          return;
        }
        this.counters.resultsRefused++;
        this.#problem(`result refused: ${answer.statusCode} ${answer.text}`);
      },
      (err: unknown) => {
        if (this.#closed) return;
        if (failures < 5) {
          setTimeout(() => this.#report(slave, headers, body, failures + 1), 200).unref();
          return;
        }
        this.counters.resultErrors++;
        this.#problem(`result failed: ${String(err)}`);
      },
    );
  }

  // ---- heartbeats ----

  #add(token: string, address: string): void {
    const seq = this.#seq++;
    const target = this.#targetFor(address);
    const headers = `channel: ${kChannel}\r\ntoken: ${token}\r\n${kExtensionsHeader}: ${kOurExtensions}\r\n`;
    const slave: VirtualSlave = {
      token,
      seq,
      target,
      beatClient: this.#client(target, target.beats, seq, this.options.beatPipelining),
      resultClient: this.#client(target, target.results, seq, 1),
      beatHeaders: headers,
      resultHeaders: `${headers}content-type: ${this.options.msgpack ? kMsgpack : kJson}\r\n`,
      busy: false,
      beaten: false,
      gone: false,
      killed: false,
      due: 0,
    };
    this.#slaves.set(token, slave);
    // the first beat lands on this slave's own phase of the span, so the fleet's beats spread evenly
    const now = performance.now();
    const phase = this.#epoch + firstBeatPhase(seq) * this.#spanMs;
    slave.due = phase + Math.ceil((now - phase) / this.#spanMs) * this.#spanMs;
    this.#schedule(slave);
  }

  #targetFor(address: string): Target {
    const origin = address.replace(/\/$/, '');
    let target = this.#targets.get(origin);
    if (target === undefined) {
      const none = () => new Array<H1Client | undefined>(this.options.sockets).fill(undefined);
      target = { origin, window: newWindow(), beats: none(), results: none() };
      this.#targets.set(origin, target);
    }
    return target;
  }

  /** One keep-alive socket, shared by every slave whose seq maps to it. */
  #client(target: Target, list: (H1Client | undefined)[], seq: number, pipelining: number): H1Client {
    const index = seq % list.length;
    if (list[index] === undefined) {
      const url = new URL(target.origin);
      const { timeoutMs } = this.options;
      list[index] = new H1Client({
        host: url.hostname,
        port: Number(url.port),
        pipelining,
        keepAliveMs: 30_000,
        timeoutMs,
      });
    }
    return list[index];
  }

  #schedule(slave: VirtualSlave): void {
    const size = this.#buckets.length;
    let bucket = Math.floor(slave.due / kTickMs);
    if (bucket < this.#nextBucket) bucket = this.#nextBucket;
    if (bucket >= this.#nextBucket + size) bucket = this.#nextBucket + size - 1;
    this.#buckets[bucket % size]!.push(slave);
  }

  #tick(): void {
    const size = this.#buckets.length;
    const last = Math.floor(performance.now() / kTickMs);
    for (; this.#nextBucket <= last; this.#nextBucket++) {
      const index = this.#nextBucket % size;
      const bucket = this.#buckets[index]!;
      if (bucket.length === 0) continue;
      this.#buckets[index] = [];
      for (const slave of bucket) if (!slave.gone) this.#beat(slave);
    }
  }

  #beat(slave: VirtualSlave): void {
    const started = performance.now();
    record(slave.target.window.lag, slave.due);
    slave.beatClient.request('GET', '/slave/heartbeat', slave.beatHeaders).then(
      (answer) => {
        const window = slave.target.window;
        record(window.beats, started);
        if (performance.now() - started > this.options.lateMs) window.late++;
        if (answer.statusCode === 200) {
          this.counters.beats++;
          window.ok++;
          slave.beaten = true;
          return this.#next(slave);
        }
        // the master no longer knows this slave: a real slave drops the link here
        this.counters.beatsRefused++;
        window.refused++;
        window.statuses[answer.statusCode] = (window.statuses[answer.statusCode] ?? 0) + 1;
        this.#problem(`heartbeat refused: ${answer.statusCode} ${answer.text}`);
        slave.gone = true;
        if (this.#slaves.get(slave.token) === slave) this.#slaves.delete(slave.token);
      },
      (err: unknown) => {
        if (this.#closed || slave.gone) return;
        slave.target.window.errors++;
        this.#problem(`heartbeat failed: ${String(err)}`);
        this.#next(slave);
      },
    );
  }

  /** Drift-free, as src/slave: the next beat is one (jittered) span after the last one was due. */
  #next(slave: VirtualSlave): void {
    if (slave.gone || this.#closed) return;
    const now = performance.now();
    slave.target.window.skipped += Math.max(0, Math.floor((now - slave.due) / this.#spanMs) - 1);
    const jitter = this.options.heartbeatJitter * (2 * Math.random() - 1);
    slave.due += this.#spanMs * (1 + jitter);
    if (slave.due < now) slave.due = now; // fell behind: do not burst to catch up
    this.#schedule(slave);
  }

  #problem(line: string): void {
    const problems = this.counters.firstProblems;
    const kind = line.slice(0, line.indexOf(':'));
    if (problems.length < 10 && !problems.some((p) => p.startsWith(kind))) problems.push(line);
  }
}

function busyWait(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until) {}
}

/** Reads a request body (copying uWS's reused chunks); `done` is never called for an aborted request. */
function readBody(res: HttpResponse, done: (body: Buffer) => void): void {
  let aborted = false;
  const chunks: Buffer[] = [];
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    if (aborted) return;
    chunks.push(Buffer.from(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk));
    if (isLast) done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  });
}

function reply(res: HttpResponse, answer: Answer, close = false, announce = false): void {
  res.writeStatus(answer.status).writeHeader('content-type', kJson);
  // the /connect answer tells the master what this slave speaks, as src/slave's does
  if (announce) res.writeHeader(kExtensionsHeader, kOurExtensions);
  res.end(answer.body, close);
}

/** In a child of its own (bench/harness/ipc-child.ts), for the result-pool benchmark. */
export async function setup(options: FleetSimOptions) {
  const fleet = await VirtualFleet.start(options);
  return {
    value: { port: fleet.ports[0]! },
    handlers: {
      status: () => ({ connected: fleet.size, beating: fleet.beating }),
      window: () => [...fleet.takeWindows().values()][0],
      halt: () => fleet.drop(),
    },
    close: () => fleet.close(),
  };
}
