/**
 * The virtual fleet: thousands of slaves in one process, speaking the real protocol on the wire. A handful of
 * uWS apps share the slaves (they tell themselves apart by the token the master sends on `POST /connect`); one
 * timer wheel drives every heartbeat; H1Clients (up to one per slave and kind) carry heartbeats and results.
 *
 * Each virtual slave answers as src/slave does: `/connect` (any token while unknown), `/task/new` (one task at a
 * time), `/disconnect`; it reports each result with `PUT /slave/task/complete` and the fleetmaster extensions
 * (`Task-Id`, backpressure: a 503 is retried after `data.retryAfterMs`).
 */

import uWS from 'uWebSockets.js';
import { randomBytes } from 'node:crypto';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { Packr } from 'msgpackr';
import { H1Client } from '../src/client/h1-client.ts';

export interface FleetSimOptions {
  /** uWS apps (ports) the slaves share. */
  ports: number;
  /** Seconds between two heartbeats of one slave. */
  heartbeatSpan: number;
  /** Each span is stretched or shrunk by up to this fraction, at random. */
  heartbeatJitter: number;
  /** Size of the result payload's padding string, in bytes. */
  resultBytes: number;
  /** Busy-loop this many microseconds per task (on this process's one thread: the fleet's tasks queue). */
  workUs: number;
  /** Sleep this many milliseconds per task (timers: tasks overlap). */
  sleepMs: number;
  /** Send results as MessagePack (the master announces it on `/connect`). */
  msgpack: boolean;
  /**
   * Keep-alive sockets to each master, per kind (heartbeats, results). Slave i always uses socket i mod this, as
   * a real slave keeps its own connection; when it is at least the fleet size, every slave has its own sockets.
   */
  sockets: number;
  /**
   * Heartbeats in flight at once on one heartbeat socket. When several slaves share a socket, pipelining their
   * beats keeps one slave's beat from waiting for another's answer, as if each had its own socket.
   */
  beatPipelining: number;
}

/** Counters since the fleet started (never reset). */
export interface SimCounters {
  connects: number;
  connectsRefused: number;
  disconnects: number;
  tasksReceived: number;
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
  /** Heartbeats that failed at the connection level. */
  beatErrors: number;
  /** The first refusal of each kind, for the report. */
  firstProblems: string[];
}

/** Latencies measured here (microseconds), over a window the caller resets. */
export interface SimWindow {
  beats: RecordableHistogram;
  results: RecordableHistogram;
}

/** What the slaves of one master (one origin) saw: counters since they started, latencies since the last reset. */
export interface TargetStats {
  beats: number;
  beatsRefused: number;
  beatErrors: number;
  window: SimWindow;
}

interface Target {
  origin: string;
  stats: TargetStats;
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
  /** Disconnected, refused by the master, or dropped: no more beats. */
  gone: boolean;
  due: number;
}

// ---- fixed answers, byte for byte what src/slave/answers.ts sends ----

const kJson = 'application/json';
const kMsgpack = 'application/msgpack';
const kExtensions = 'task-id, msgpack, backpressure';
const kChannel = '0';

interface Answer {
  status: string;
  body: string;
}

const answer = (status: string, success: boolean, code: number, message: string): Answer => ({
  status,
  body: JSON.stringify({ success, code, message, data: null }),
});

const kAnswers = {
  connected: answer('200 OK', true, 0, 'Connect success.'),
  disconnected: answer('200 OK', true, 0, 'Disconnect success.'),
  taskReceived: answer('200 OK', true, 0, 'Task received!'),
  channelNotFound: answer('400 Bad Request', false, 201, 'Channel not found.'),
  channelInvalid: answer('403 Forbidden', false, 202, 'Channel not match with this endpoint.'),
  masterTokenNotFound: answer('400 Bad Request', false, 301, 'Master token not found.'),
  masterTokenInvalid: answer('403 Forbidden', false, 302, 'Master not match with this endpoint.'),
  alreadyConnected: answer('400 Bad Request', false, 501, 'This slave already connected.'),
  taskAlreadyExist: answer('400 Bad Request', false, 601, 'Already has a task.'),
  dataInvalid: answer('400 Bad Request', false, 904, 'Request body is not valid.'),
  routeNotFound: answer('404 Not Found', false, 903, 'No such route on this slave.'),
} as const;

const packr = new Packr({ useRecords: false });

/** `Math.random`-free even spread: the golden-ratio sequence covers [0, 1) evenly for every prefix. */
export function firstBeatPhase(seq: number): number {
  return (seq * 0.6180339887498949) % 1;
}

/** The timer wheel: one `unref()`ed timer for every heartbeat of the fleet, in `kTickMs` buckets. */
const kTickMs = 2;

export class VirtualFleet {
  readonly options: FleetSimOptions;
  readonly counters: SimCounters = {
    connects: 0,
    connectsRefused: 0,
    disconnects: 0,
    tasksReceived: 0,
    tasksRefused: 0,
    resultsSent: 0,
    resultsPushedBack: 0,
    resultsRefused: 0,
    resultErrors: 0,
    beats: 0,
    beatsRefused: 0,
    beatErrors: 0,
    firstProblems: [],
  };
  readonly #apps: uWS.TemplatedApp[] = [];
  readonly #listenSockets: uWS.us_listen_socket[] = [];
  readonly #ports: number[] = [];
  readonly #slaves = new Map<string, VirtualSlave>();
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
  readonly #resultSuffix: string;
  readonly #resultPayload: { pad: string };

  private constructor(options: FleetSimOptions) {
    this.options = options;
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

  /** The figures of the slaves of the master at `origin` (`http://host:port`), once one of them exists. */
  statsFor(origin: string): TargetStats | undefined {
    return this.#targets.get(origin)?.stats;
  }

  /** Starts a fresh latency window for every master (the counters keep running); returns the closed ones. */
  resetWindows(): Map<string, SimWindow> {
    const closed = new Map<string, SimWindow>();
    for (const target of this.#targets.values()) {
      closed.set(target.origin, target.stats.window);
      target.stats.window = newWindow();
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

  /** Forgets the slaves of the master at `origin` (they stop heartbeating) and closes their sockets. */
  async drop(origin: string): Promise<void> {
    for (const [token, slave] of this.#slaves) {
      if (slave.target.origin !== origin) continue;
      slave.gone = true;
      this.#slaves.delete(token);
    }
    const target = this.#targets.get(origin);
    if (target === undefined) return;
    this.#targets.delete(origin);
    for (const client of [...target.beats, ...target.results]) client?.destroy();
  }

  /** Forgets every slave (they stop heartbeating). */
  dropAll(): void {
    for (const slave of this.#slaves.values()) slave.gone = true;
    this.#slaves.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.dropAll();
    for (const socket of this.#listenSockets) uWS.us_listen_socket_close(socket);
    for (const app of this.#apps) (app as unknown as { close(): void }).close();
    for (const t of this.#targets.values())
      for (const client of [...t.beats, ...t.results]) client?.destroy();
    this.#targets.clear();
  }

  // ---- the routes ----

  #listen(): Promise<void> {
    const app = uWS.App();
    app.post('/connect', (res, req) => this.#route(res, req, 'connect'));
    app.post('/task/new', (res, req) => this.#route(res, req, 'task'));
    app.del('/disconnect', (res, req) => this.#route(res, req, 'disconnect'));
    app.any('/*', (res, req) => {
      const hasBody = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '';
      reply(res, kAnswers.routeNotFound, undefined, hasBody);
    });
    this.#apps.push(app);
    return new Promise((resolve, reject) => {
      app.listen('127.0.0.1', 0, (socket) => {
        if (socket === false) {
          reject(new Error('virtual fleet cannot listen on 127.0.0.1'));
          return;
        }
        this.#listenSockets.push(socket);
        this.#ports.push(uWS.us_socket_local_port(socket));
        resolve();
      });
    });
  }

  #route(res: uWS.HttpResponse, req: uWS.HttpRequest, route: 'connect' | 'task' | 'disconnect'): void {
    const channel = req.getHeader('channel');
    if (channel !== kChannel) {
      reply(res, channel === '' ? kAnswers.channelNotFound : kAnswers.channelInvalid, undefined, true);
      return;
    }
    const token = req.getHeader('token');
    if (token === '') {
      reply(res, kAnswers.masterTokenNotFound, undefined, true);
      return;
    }
    const slave = this.#slaves.get(token);
    if (route !== 'connect' && slave === undefined) {
      if (route === 'task') this.counters.tasksRefused++;
      reply(res, kAnswers.masterTokenInvalid, undefined, true);
      return;
    }
    const contentType = req.getHeader('content-type');
    readBody(res, (body) => {
      let value: unknown;
      try {
        value = contentType.startsWith(kMsgpack) ? packr.unpack(body) : JSON.parse(body.toString() || '{}');
      } catch {
        late(res, kAnswers.dataInvalid);
        return;
      }
      switch (route) {
        case 'connect':
          late(res, this.#connect(token, value), kAnnounce);
          return;
        case 'disconnect':
          this.#slaves.delete(token);
          slave!.gone = true;
          this.counters.disconnects++;
          late(res, kAnswers.disconnected);
          return;
        case 'task':
          late(res, this.#task(slave!, value));
          return;
      }
    });
  }

  #connect(token: string, body: unknown): Answer {
    if (this.#slaves.has(token) || this.#closed) {
      this.counters.connectsRefused++;
      return kAnswers.alreadyConnected;
    }
    const address = (body as { master?: { address?: unknown } } | null)?.master?.address;
    if (typeof address !== 'string' || !/^https?:\/\//.test(address)) {
      this.counters.connectsRefused++;
      return kAnswers.dataInvalid;
    }
    this.#add(token, address);
    this.counters.connects++;
    return kAnswers.connected;
  }

  #task(slave: VirtualSlave, body: unknown): Answer {
    const id = (body as { task?: { id?: unknown } } | null)?.task?.id;
    if (typeof id !== 'string' || id === '') {
      this.counters.tasksRefused++;
      return kAnswers.dataInvalid;
    }
    if (slave.busy) {
      this.counters.tasksRefused++;
      return kAnswers.taskAlreadyExist;
    }
    slave.busy = true;
    this.counters.tasksReceived++;
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
    return kAnswers.taskReceived;
  }

  #drain = (): void => {
    this.#drainScheduled = false;
    const ready = this.#ready;
    this.#ready = [];
    const workUs = this.options.workUs;
    for (const { slave, id } of ready) {
      if (workUs > 0) busyWait(workUs);
      this.#finish(slave, id);
    }
  };

  // ---- results ----

  #finish(slave: VirtualSlave, id: string): void {
    // free the slot before reporting, as the reference does: the master may send the next task at once
    slave.busy = false;
    if (slave.gone || this.#closed) return;
    const body = this.options.msgpack
      ? // msgpackr returns a view of a shared buffer: copy before the client holds it across turns
        Buffer.from(packr.pack({ task: { id }, result: this.#resultPayload }))
      : `{"task":{"id":"${id}${this.#resultSuffix}`;
    this.#report(slave, `${slave.resultHeaders}task-id: ${id}\r\n`, body, 0);
  }

  #report(slave: VirtualSlave, headers: string, body: string | Buffer, failures: number): void {
    if (this.#closed) return;
    const started = performance.now();
    // fleetmaster's lean H1Client, not undici: the simulator's CPU is the master's too
    slave.resultClient.request('PUT', '/slave/task/complete', headers, body).then(
      (answer) => {
        if (answer.statusCode === 200) {
          this.counters.resultsSent++;
          record(slave.target.stats.window.results, started);
          return;
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
    const slave: VirtualSlave = {
      token,
      seq,
      target,
      beatClient: this.#client(target, target.beats, seq, this.options.beatPipelining),
      resultClient: this.#client(target, target.results, seq, 1),
      beatHeaders: `channel: ${kChannel}\r\ntoken: ${token}\r\nfleet-extensions: ${kExtensions}\r\n`,
      resultHeaders:
        `channel: ${kChannel}\r\ntoken: ${token}\r\nfleet-extensions: ${kExtensions}\r\n` +
        `content-type: ${this.options.msgpack ? kMsgpack : kJson}\r\n`,
      busy: false,
      gone: false,
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
      const sockets = this.options.sockets;
      target = {
        origin,
        stats: { beats: 0, beatsRefused: 0, beatErrors: 0, window: newWindow() },
        beats: new Array(sockets).fill(undefined),
        results: new Array(sockets).fill(undefined),
      };
      this.#targets.set(origin, target);
    }
    return target;
  }

  /** One keep-alive socket, shared by every slave whose seq maps to it. */
  #client(target: Target, list: (H1Client | undefined)[], seq: number, pipelining: number): H1Client {
    const index = seq % list.length;
    let client = list[index];
    if (client === undefined) {
      const url = new URL(target.origin);
      client = new H1Client({
        host: url.hostname,
        port: Number(url.port),
        pipelining,
        keepAliveMs: 30_000,
        timeoutMs: 10_000,
      });
      list[index] = client;
    }
    return client;
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
    slave.beatClient.request('GET', '/slave/heartbeat', slave.beatHeaders).then(
      (answer) => {
        const stats = slave.target.stats;
        if (answer.statusCode === 200) {
          this.counters.beats++;
          stats.beats++;
          record(stats.window.beats, started);
        } else {
          // the master no longer knows this slave: a real slave drops the link here
          this.counters.beatsRefused++;
          stats.beatsRefused++;
          this.#problem(`heartbeat refused: ${answer.statusCode} ${answer.text}`);
          slave.gone = true;
          if (this.#slaves.get(slave.token) === slave) this.#slaves.delete(slave.token);
          return;
        }
        this.#next(slave);
      },
      (err: unknown) => {
        if (this.#closed || slave.gone) return;
        this.counters.beatErrors++;
        slave.target.stats.beatErrors++;
        this.#problem(`heartbeat failed: ${String(err)}`);
        this.#next(slave);
      },
    );
  }

  /** Drift-free, as src/slave: the next beat is one (jittered) span after the last one was due. */
  #next(slave: VirtualSlave): void {
    if (slave.gone || this.#closed) return;
    const jitter = this.options.heartbeatJitter * (2 * Math.random() - 1);
    slave.due += this.#spanMs * (1 + jitter);
    const now = performance.now();
    if (slave.due < now) slave.due = now; // fell behind: do not burst to catch up
    this.#schedule(slave);
  }

  #problem(line: string): void {
    const problems = this.counters.firstProblems;
    const kind = line.slice(0, line.indexOf(':'));
    if (problems.length < 10 && !problems.some((p) => p.startsWith(kind))) problems.push(line);
  }
}

const kAnnounce = ['fleet-extensions', kExtensions] as const;

function newWindow(): SimWindow {
  return {
    beats: createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 }),
    results: createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 }),
  };
}

/** Records the time since `started` (ms, from `performance.now()`) in microseconds. */
function record(histogram: RecordableHistogram, started: number): void {
  histogram.record(Math.max(1, Math.round((performance.now() - started) * 1000)));
}

function retryDelayMs(body: string): number {
  let hinted: unknown;
  try {
    hinted = (JSON.parse(body) as { data?: { retryAfterMs?: unknown } }).data?.retryAfterMs;
  } catch {}
  const base = typeof hinted === 'number' && hinted > 0 ? hinted : 1000;
  return Math.min(30_000, Math.max(10, base)) * (0.5 + Math.random());
}

function busyWait(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until) {}
}

/** Reads a request body (copying uWS's reused chunks); `done` is never called for an aborted request. */
function readBody(res: uWS.HttpResponse, done: (body: Buffer) => void): void {
  let aborted = false;
  const chunks: Buffer[] = [];
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    if (aborted) return;
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast) return;
    done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  });
}

function reply(
  res: uWS.HttpResponse,
  answer: Answer,
  header?: readonly [string, string],
  closeConnection = false,
): void {
  res.writeStatus(answer.status).writeHeader('content-type', kJson);
  if (header) res.writeHeader(header[0], header[1]);
  res.end(answer.body, closeConnection);
}

/** An answer written after the route's synchronous part (uWS then needs an explicit cork). */
function late(res: uWS.HttpResponse, answer: Answer, header?: readonly [string, string]): void {
  res.cork(() => reply(res, answer, header));
}
