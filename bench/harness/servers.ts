/**
 * The servers the benchmarks compare, each alone in its own child process (`startServer`), so none shares a
 * core's time with the load generator: the real master on each HTTP engine (with one real connected slave), and
 * a baseline per engine answering the same bytes with no checks (raw uWS: the uws engine's ceiling, and the
 * fleet benchmark's null master; raw node:http: the node engine's). This file never loads autocannon.
 */

import type * as Uws from 'uWebSockets.js';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { EngineName } from '../../src/http/engine.ts';
import { loadUws } from '../../src/http/engines/uws.ts';
import { kAnswers } from '../../src/master/answers.ts';
import { kJson } from '../../src/protocol/codec.ts';
import { IpcChild } from './ipc-child.ts';

export type ServerKind = 'master' | 'master-node' | 'uws' | 'node';

export const kServerKinds: readonly ServerKind[] = ['master', 'uws', 'master-node', 'node'];

export const kServerLabels: Readonly<Record<ServerKind, string>> = {
  master: 'master, uws engine',
  uws: 'raw uWebSockets.js',
  'master-node': 'master, node engine',
  node: 'raw node:http',
};

/** Per engine: the master running on it, and the raw server it is held against. */
export const kEnginePairs: Readonly<Record<EngineName, { master: ServerKind; baseline: ServerKind }>> = {
  uws: { master: 'master', baseline: 'uws' },
  node: { master: 'master-node', baseline: 'node' },
};

/** The engines this Node can run: uws only where its native build loads. */
export function availableEngines(): EngineName[] {
  return loadUws() instanceof Error ? ['node'] : ['uws', 'node'];
}

/** The servers that measure `engines`, in the order they take turns. */
export function serverKindsFor(engines: readonly EngineName[]): ServerKind[] {
  return kServerKinds.filter((kind) =>
    engines.some((e) => kEnginePairs[e].master === kind || kEnginePairs[e].baseline === kind),
  );
}

export interface ServerReady {
  kind: ServerKind;
  port: number;
  /** The slave token to send (the baselines accept anything and get a placeholder). */
  token: string;
  /** What the report should say about this server's configuration (the master's result threads). */
  notes: Record<string, number | string>;
}

interface RunningServer extends Omit<ServerReady, 'kind'> {
  close(): Promise<void>;
}

/** MasterOptions the benchmark turns (`resultThreads`, `metrics`); anything unset keeps the master's default. */
export type MasterKnobs = Record<string, unknown>;

/** The envelopes the baselines answer: the master's own, byte for byte (src/master/answers.ts). */
export const kHeartbeatBody = kAnswers.heartbeat.body;
export const kResultBody = kAnswers.resultIgnored.body;

export type ServerChild = IpcChild<ServerReady>;

/** Starts `kind` alone in a child process (bench/harness/ipc-child.ts); the child answers `cpu` and profiles. */
export function startServer(kind: ServerKind, knobs: MasterKnobs = {}): Promise<ServerChild> {
  const options = { label: `${kind} server`, readyTimeoutMs: 20_000 };
  return IpcChild.start<ServerReady>(fileURLToPath(import.meta.url), { kind, knobs }, options);
}

/** The child's side. */
export async function setup({ kind, knobs }: { kind: ServerKind; knobs: MasterKnobs }) {
  const starts = {
    master: () => startMaster({ ...knobs, engine: 'uws' }),
    'master-node': () => startMaster({ ...knobs, engine: 'node' }),
    uws: startRawUws,
    node: startNodeHttp,
  };
  const { close, ...ready } = await starts[kind]();
  return { value: { kind, ...ready } satisfies ServerReady, handlers: {}, close, closeTimeoutMs: 2000 };
}

/** The master with one slave connected through the real `POST /connect`, so its token is really registered. */
async function startMaster(knobs: MasterKnobs): Promise<RunningServer> {
  // loaded here so the baselines' processes never load fleetmaster
  const { Master, Slave } = await import('../../src/index.ts');
  const slave = await new Slave({ host: '127.0.0.1', port: 0, heartbeatSpan: 3600 }).start();
  const master = await new Master({ host: '127.0.0.1', port: 0, heartbeatTolerance: 3600, ...knobs }).start();
  try {
    const connection = master.newConnection('bench', '127.0.0.1', slave.port);
    await connection.connect();
    return {
      port: master.port,
      token: connection.token,
      notes: {
        resultThreads: master.options.resultThreads,
        metrics: String(master.options.metrics),
        engine: master.engine,
      },
      async close() {
        await master.destroy();
        await slave.close();
      },
    };
  } catch (err) {
    await master.destroy();
    await slave.close();
    throw err;
  }
}

/** The ceiling: uWS answering the same envelopes with no checks; the PUT still reads its body as it must. */
function startRawUws(): Promise<RunningServer> {
  const uWS = loadUws();
  if (uWS instanceof Error) return Promise.reject(uWS);
  const app = uWS.App();
  app.get('/slave/heartbeat', (res) => {
    res.writeHeader('content-type', kJson).end(kHeartbeatBody);
  });
  const readAndAnswer = (res: Uws.HttpResponse) => {
    let aborted = false;
    const chunks: Buffer[] = [];
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((chunk, isLast) => {
      // chunk memory is reused by uWS: copy it
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast || aborted) return;
      Buffer.concat(chunks);
      res.cork(() => {
        res.writeHeader('content-type', kJson).end(kResultBody);
      });
    });
  };
  app.put('/slave/task/complete', readAndAnswer);
  app.put('/slave/task/fail', readAndAnswer);
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (socket) => {
      if (socket === false) {
        reject(new Error('raw uWS baseline cannot listen on 127.0.0.1'));
        return;
      }
      resolve({
        port: uWS.us_socket_local_port(socket),
        token: 'baseline',
        notes: {},
        async close() {
          uWS.us_listen_socket_close(socket);
          (app as unknown as { close(): void }).close();
        },
      });
    });
  });
}

/** The floor most Node servers start from: node:http, same envelopes, body read to its end. */
function startNodeHttp(): Promise<RunningServer> {
  const heartbeat = Buffer.from(kHeartbeatBody);
  const result = Buffer.from(kResultBody);
  const answer = (res: http.ServerResponse, body: Buffer) => {
    res.writeHead(200, { 'content-type': kJson, 'content-length': body.length });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/slave/heartbeat') {
      answer(res, heartbeat);
      return;
    }
    if (req.method === 'PUT' && (req.url === '/slave/task/complete' || req.url === '/slave/task/fail')) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        Buffer.concat(chunks);
        answer(res, result);
      });
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('node:http baseline has no TCP address'));
        return;
      }
      resolve({
        port: address.port,
        token: 'baseline',
        notes: {},
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
