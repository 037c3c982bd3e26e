/**
 * Virtual slaves for the submit benchmarks, in a child process of their own (forked by fleet-submit.ts): many
 * slaves on a few uWS ports, told apart by the token of their `/connect`. Each answers `/task/new` (one task at a
 * time, as a fleetmaster slave of concurrency 1, announcing fleetmaster's extensions), reports the result with
 * `PUT /slave/task/complete` after `--sleep-ms`, and heartbeats every `--heartbeat-span` seconds. The parent can
 * kill slaves (IPC `{ kill: n }`): a killed slave stops heartbeating, never reports what it held, and answers
 * nothing more (its requests' sockets are closed), as a SIGKILLed process would look to the master.
 *
 * A self-contained stand-in for bench/fleet-slaves.ts (which cannot kill one slave), to be merged into the bench
 * harness.
 */

import uWS from 'uWebSockets.js';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    ports: { type: 'string', default: '4' },
    'heartbeat-span': { type: 'string', default: '1' },
    'sleep-ms': { type: 'string', default: '0' },
  },
});
const kPorts = Number(values.ports);
const kSpanMs = Number(values['heartbeat-span']) * 1000;
const kSleepMs = Number(values['sleep-ms']);
const kAnnounce = 'task-id, msgpack, backpressure, cancel, concurrency=1';

interface VirtualSlave {
  token: string;
  master: string;
  busy: boolean;
  dead: boolean;
  nextBeat: number;
}

const slaves = new Map<string, VirtualSlave>();
const pools = new Map<string, Pool>();
const counters = { tasks: 0, results: 0, resultErrors: 0, beats: 0, killed: 0, refusedBusy: 0 };

function poolOf(master: string): Pool {
  let pool = pools.get(master);
  if (pool === undefined) {
    pool = new Pool(master, { connections: 64, keepAliveTimeout: 60_000 });
    pools.set(master, pool);
  }
  return pool;
}

function envelope(code: number, message: string): string {
  return JSON.stringify({ success: code === 0, code, message, data: null });
}

function send(res: uWS.HttpResponse, status: string, body: string, headers?: Record<string, string>): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json');
    if (headers) for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(body);
  });
}

function readJson(res: uWS.HttpResponse, done: (value: unknown) => void): void {
  const chunks: Buffer[] = [];
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast || aborted) return;
    try {
      done(JSON.parse(Buffer.concat(chunks).toString() || '{}'));
    } catch {
      send(res, '400 Bad Request', envelope(904, 'bad body'));
    }
  });
}

function report(slave: VirtualSlave, id: string): void {
  slave.busy = false;
  if (slave.dead) return;
  poolOf(slave.master)
    .request({
      method: 'PUT',
      path: '/slave/task/complete',
      headers: {
        channel: '0',
        token: slave.token,
        'fleet-extensions': kAnnounce,
        'task-id': id,
        'content-type': 'application/json',
      },
      body: `{"task":{"id":"${id}"},"result":{"ok":true}}`,
    })
    .then(
      async (res) => {
        await res.body.dump();
        if (res.statusCode === 200) counters.results++;
        else counters.resultErrors++;
      },
      () => counters.resultErrors++,
    );
}

function beat(slave: VirtualSlave): void {
  poolOf(slave.master)
    .request({ method: 'GET', path: '/slave/heartbeat', headers: { channel: '0', token: slave.token } })
    .then(
      async (res) => {
        await res.body.dump();
        counters.beats++;
      },
      () => undefined,
    );
}

function route(kind: 'connect' | 'task' | 'disconnect') {
  return (res: uWS.HttpResponse, req: uWS.HttpRequest) => {
    const token = req.getHeader('token');
    const slave = slaves.get(token);
    if (slave?.dead) {
      // a dead slave answers nothing: the master sees its connection fail
      res.close();
      return;
    }
    readJson(res, (body) => {
      if (kind === 'connect') {
        const master = (body as { master?: { address?: string } }).master?.address;
        if (slave !== undefined || typeof master !== 'string') {
          send(res, '400 Bad Request', envelope(501, 'This slave already connected.'));
          return;
        }
        slaves.set(token, { token, master, busy: false, dead: false, nextBeat: performance.now() + kSpanMs });
        send(res, '200 OK', envelope(0, 'Connect success.'), { 'fleet-extensions': kAnnounce });
        return;
      }
      if (slave === undefined) {
        send(res, '403 Forbidden', envelope(302, 'Master not match with this endpoint.'));
        return;
      }
      if (kind === 'disconnect') {
        slaves.delete(token);
        slave.dead = true;
        send(res, '200 OK', envelope(0, 'Disconnect success.'));
        return;
      }
      if (slave.busy) {
        counters.refusedBusy++;
        send(res, '400 Bad Request', envelope(601, 'Already has a task.'));
        return;
      }
      const id = (body as { task?: { id?: string } }).task?.id ?? '';
      slave.busy = true;
      counters.tasks++;
      send(res, '200 OK', envelope(0, 'Task received!'));
      if (kSleepMs > 0) setTimeout(() => report(slave, id), kSleepMs);
      else setImmediate(() => report(slave, id));
    });
  };
}

const ports: number[] = [];
for (let i = 0; i < kPorts; i++) {
  const app = uWS.App();
  app.post('/connect', route('connect'));
  app.post('/task/new', route('task'));
  app.del('/disconnect', route('disconnect'));
  await new Promise<void>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (socket) => {
      if (socket === false) return reject(new Error('cannot listen'));
      ports.push(uWS.us_socket_local_port(socket));
      resolve();
    }),
  );
}

// one timer for every heartbeat
setInterval(() => {
  const now = performance.now();
  for (const slave of slaves.values()) {
    if (slave.dead || slave.nextBeat > now) continue;
    slave.nextBeat = now + kSpanMs;
    beat(slave);
  }
}, 20);

process.on('message', (message: { kill?: number; stats?: boolean }) => {
  if (message.kill !== undefined) {
    // the oldest alive first would always kill the same kind of slave; pick at random
    const alive = [...slaves.values()].filter((s) => !s.dead);
    for (let i = 0; i < message.kill && alive.length > 0; i++) {
      const [victim] = alive.splice(Math.floor(Math.random() * alive.length), 1);
      victim!.dead = true;
      counters.killed++;
    }
    process.send?.({ killed: message.kill });
  }
  if (message.stats)
    process.send?.({ stats: { ...counters, alive: [...slaves.values()].filter((s) => !s.dead).length } });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ports });
