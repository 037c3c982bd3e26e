/**
 * A fleet of virtual slaves in a process of its own: one HTTP server answers `POST /connect` (and
 * `/disconnect`, `/task/new`) for every slave the master connects, and each connected slave then heartbeats the
 * master on a fixed schedule, one request at a time on its own keep-alive connection, as a DI-engine or
 * fleetmaster slave does. The process measures each heartbeat's latency; the parent opens and closes recording
 * windows (phases) over IPC. Running apart from the result senders keeps their work out of these timings.
 *
 * Forked by bench/result-pool.ts as `result-pool-fleet.ts --fleet '<json FleetConfig>'`.
 */
import http from 'node:http';
import { createHistogram, monitorEventLoopDelay, type RecordableHistogram } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from 'undici';
import { kExtensionsHeader, kOurExtensions } from '../src/protocol/extensions.ts';
import { IpcChild, serveParent } from './ipc-child.ts';
import { type HeartbeatPhase, kLoopResolutionMs, summariseHistogram } from './result-pool-report.ts';

export interface FleetConfig {
  /** Slaves the master will connect: each beats at its own phase, `index / slaves` of a span apart. */
  slaves: number;
  /** Milliseconds between two heartbeats of one slave. */
  spanMs: number;
  /** A heartbeat not answered within this many milliseconds is missed. */
  timeoutMs: number;
  /** A heartbeat answered later than this many milliseconds is late. */
  lateMs: number;
}

export interface FleetStatus {
  /** Slaves connected (that got a `/connect`). */
  connected: number;
  /** Slaves whose first heartbeat was answered 200. */
  beating: number;
}

const kSelf = fileURLToPath(import.meta.url);

// ---- child side ----

interface VirtualSlave {
  readonly token: string;
  readonly index: number;
  readonly client: Client;
  readonly headers: Record<string, string>;
  /** When the next heartbeat is due (performance.now() time). */
  next: number;
  timer: NodeJS.Timeout | undefined;
  beaten: boolean;
  stopped: boolean;
}

class Recorder {
  readonly latency: RecordableHistogram = createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 });
  readonly lag: RecordableHistogram = createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 });
  readonly loop = monitorEventLoopDelay({ resolution: kLoopResolutionMs });
  readonly started = performance.now();
  answered = 0;
  late = 0;
  refused = 0;
  errors = 0;
  skipped = 0;
  readonly statuses: Record<string, number> = {};

  constructor() {
    this.loop.enable();
  }

  finish(lateMs: number): HeartbeatPhase {
    this.loop.disable();
    const seconds = (performance.now() - this.started) / 1000;
    return {
      seconds,
      answered: this.answered,
      perSecond: this.answered / seconds,
      latencyMs: summariseHistogram(this.latency, 1000),
      lateMs,
      late: this.late,
      refused: this.refused,
      errors: this.errors,
      missed: this.refused + this.errors,
      skipped: this.skipped,
      statuses: this.statuses,
      sendLagMs: summariseHistogram(this.lag, 1000),
      loopDelayMs: summariseHistogram(this.loop, 1e6, kLoopResolutionMs),
    };
  }
}

async function serveFleet(config: FleetConfig): Promise<void> {
  const { spanMs, timeoutMs, lateMs } = config;
  const slaves = new Map<string, VirtualSlave>();
  let epoch = -1;
  let recorder: Recorder | undefined;

  const beat = (slave: VirtualSlave): void => {
    slave.timer = undefined;
    if (slave.stopped) return;
    const due = slave.next;
    const sent = performance.now();
    const done = (status: number, failed: boolean) => {
      if (slave.stopped) return;
      const now = performance.now();
      const r = recorder;
      if (r) {
        r.lag.record(Math.max(1, Math.round((sent - due) * 1000)));
        if (failed) r.errors++;
        else {
          r.answered++;
          r.latency.record(Math.max(1, Math.round((now - sent) * 1000)));
          if (now - sent > lateMs) r.late++;
          if (status !== 200) {
            r.refused++;
            r.statuses[status] = (r.statuses[status] ?? 0) + 1;
          }
        }
      }
      if (!slave.beaten) {
        slave.beaten = !failed && status === 200;
        // after the first beat, move to this slave's own phase of the span so the fleet beats evenly
        let t = epoch + (slave.index / config.slaves) * spanMs;
        if (t <= now) t += Math.ceil((now - t) / spanMs) * spanMs;
        slave.next = t;
      } else {
        slave.next = due + spanMs;
        if (slave.next < now) {
          // the previous beat took longer than a span: as a real slave, send at once and do not catch up
          if (r) r.skipped += Math.max(0, Math.floor((now - due) / spanMs) - 1);
          slave.next = now;
        }
      }
      slave.timer = setTimeout(beat, slave.next - now, slave);
    };
    slave.client.request({ method: 'GET', path: '/slave/heartbeat', headers: slave.headers }).then(
      async (res) => {
        await res.body.dump();
        done(res.statusCode, false);
      },
      () => done(0, true),
    );
  };

  const connect = (token: string, address: string): void => {
    if (epoch < 0) epoch = performance.now();
    const slave: VirtualSlave = {
      token,
      index: slaves.size,
      client: new Client(address, {
        pipelining: 1,
        keepAliveTimeout: 60_000,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        connectTimeout: timeoutMs,
      }),
      headers: { channel: '0', token, [kExtensionsHeader]: kOurExtensions },
      next: performance.now(),
      timer: undefined,
      beaten: false,
      stopped: false,
    };
    slaves.set(token, slave);
    // a slave beats as soon as it is connected (the master lists the token before it sends /connect)
    beat(slave);
  };

  const halt = async (): Promise<void> => {
    const all = [...slaves.values()];
    slaves.clear();
    epoch = -1;
    for (const slave of all) {
      slave.stopped = true;
      clearTimeout(slave.timer);
    }
    await Promise.all(all.map((s) => s.client.destroy().catch(() => undefined)));
  };

  const envelope = (message: string) => JSON.stringify({ success: true, code: 0, message, data: null });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const token = String(req.headers.token ?? '');
      let answer: string | undefined;
      if (req.method === 'POST' && req.url === '/connect') {
        let address: unknown;
        try {
          address = (JSON.parse(Buffer.concat(chunks).toString()) as { master?: { address?: unknown } })
            .master?.address;
        } catch {}
        if (typeof address === 'string' && token !== '' && !slaves.has(token)) {
          connect(token, address);
          answer = envelope('Connect success.');
        }
      } else if (req.method === 'DELETE' && req.url === '/disconnect') {
        const slave = slaves.get(token);
        if (slave) {
          slave.stopped = true;
          clearTimeout(slave.timer);
          slaves.delete(token);
          void slave.client.close().catch(() => undefined);
        }
        answer = envelope('Disconnect success.');
      } else if (req.method === 'POST' && req.url === '/task/new') {
        answer = envelope('Task received!');
      }
      const body = answer ?? JSON.stringify({ success: false, code: 904, message: 'Refused.', data: null });
      // one /connect per connection: close it, so a large fleet leaves no idle sockets behind
      res.writeHead(answer ? 200 : 400, {
        'content-type': 'application/json',
        [kExtensionsHeader]: kOurExtensions,
        connection: 'close',
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fleet server has no TCP address');

  await serveParent(async () => ({
    value: { port: address.port },
    handlers: {
      status: (): FleetStatus => {
        let beating = 0;
        for (const s of slaves.values()) if (s.beaten) beating++;
        return { connected: slaves.size, beating };
      },
      'phase-begin': () => {
        recorder?.loop.disable();
        recorder = new Recorder();
      },
      'phase-end': (): HeartbeatPhase => {
        if (!recorder) throw new Error('no phase open');
        const phase = recorder.finish(lateMs);
        recorder = undefined;
        return phase;
      },
      halt,
      cpu: () => process.cpuUsage(),
    },
    close: async () => {
      await halt();
      server.closeAllConnections();
      server.close();
    },
  }));
}

// ---- parent side ----

/** The parent's handle on the fleet process. */
export class SlaveFleet {
  readonly #child: IpcChild<{ port: number }>;

  private constructor(child: IpcChild<{ port: number }>) {
    this.#child = child;
  }

  static async start(config: FleetConfig): Promise<SlaveFleet> {
    const child = await IpcChild.start<{ port: number }>(kSelf, ['--fleet', JSON.stringify(config)], {
      label: 'slave fleet',
    });
    return new SlaveFleet(child);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The port the master connects its slaves to (on 127.0.0.1). */
  get port(): number {
    return this.#child.ready.port;
  }

  status(): Promise<FleetStatus> {
    return this.#child.request('status');
  }

  /** Waits (bounded) until `count` slaves got their first heartbeat answered 200. */
  async whenBeating(count: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const status = await this.status();
      if (status.beating >= count) return;
      if (performance.now() > deadline) {
        throw new Error(`only ${status.beating} of ${count} slaves heartbeat after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  beginPhase(): Promise<void> {
    return this.#child.request('phase-begin');
  }

  endPhase(): Promise<HeartbeatPhase> {
    return this.#child.request('phase-end');
  }

  /** Stops every slave's heartbeats and forgets them (before their master goes away). */
  halt(): Promise<void> {
    return this.#child.request('halt', undefined, 30_000);
  }

  cpuUsage(): Promise<NodeJS.CpuUsage> {
    return this.#child.request('cpu');
  }

  stop(): Promise<void> {
    return this.#child.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--fleet');
  void serveFleet(JSON.parse(process.argv[at + 1] ?? '{}') as FleetConfig);
}
