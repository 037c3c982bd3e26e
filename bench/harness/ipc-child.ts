/**
 * A benchmark process of its own, driven by its parent over IPC; every kind of child (a server, a master, a fleet
 * of virtual slaves) is a module exporting `setup(config)`, which this file loads in a fresh process. The child
 * answers named requests; every child also answers `cpu`, `memory`, `profile-start`/`-stop` (the inspector, over
 * a window the parent chooses) and `loop-begin`/`-end` (event-loop delay over a window). The parent waits for
 * `ready` with a deadline and bounds every request in time; `stop()` never leaves the process behind (asked, then
 * SIGKILLed), every child is killed if the parent exits, and a child whose parent disappears exits by itself.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { summariseHistogram } from './report.ts';

type ToChild = { type: string; id: number; payload: unknown };
type FromChild =
  | { type: 'ready'; value: unknown }
  | { type: 'failed'; message: string }
  | { type: 'reply'; id: number; value?: unknown; error?: string };

/** What a child answers: one function per request type. Any other message it sends goes to `onMessage`. */
// biome-ignore lint/suspicious/noExplicitAny: payloads are JSON crossing a process boundary
export type RequestHandlers = Record<string, (payload: any) => unknown>;

export interface Served<T> {
  value: T;
  handlers: RequestHandlers;
  close: () => Promise<void>;
  /** @defaultValue 3000 */
  closeTimeoutMs?: number;
}

const errorText = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));
const kSelf = fileURLToPath(import.meta.url);

// ---- child side ----

function builtinHandlers(): RequestHandlers {
  let session: Session | undefined;
  let loop: { histogram: IntervalHistogram; offsetMs: number } | undefined;
  return {
    cpu: () => process.cpuUsage(),
    memory: () => {
      // twice: the first pass can leave finalisable garbage for the second (needs --expose-gc)
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      return process.memoryUsage();
    },
    'profile-start': async ({ intervalUs }: { intervalUs: number }) => {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
      await session.post('Profiler.start');
    },
    'profile-stop': async ({ file }: { file: string }) => {
      if (!session) throw new Error('no profile running');
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = undefined;
      await writeFile(file, JSON.stringify(profile));
    },
    'loop-begin': ({ resolutionMs, offsetMs }: { resolutionMs: number; offsetMs: number }) => {
      loop?.histogram.disable();
      loop = { histogram: monitorEventLoopDelay({ resolution: resolutionMs }), offsetMs };
      loop.histogram.enable();
    },
    'loop-end': () => {
      if (!loop) throw new Error('no loop window open');
      loop.histogram.disable();
      const summary = summariseHistogram(loop.histogram, 1e6, loop.offsetMs);
      loop = undefined;
      return summary;
    },
  };
}

/** Runs `setup` (its value is the parent's `ready` value), then answers requests until `stop`. */
async function serveParent<T>(setup: () => Promise<Served<T>>): Promise<void> {
  const send = (message: FromChild) => process.send?.(message);
  // an orphaned child must not outlive the benchmark
  process.once('disconnect', () => process.exit(0));
  let served: Served<T>;
  try {
    served = await setup();
  } catch (err) {
    send({ type: 'failed', message: errorText(err) });
    process.exit(1);
  }
  const handlers = { ...builtinHandlers(), ...served.handlers };
  process.on('message', (message: ToChild) => {
    if (message.type === 'stop') {
      // process.exit (not a kill) lets node write a CPU profile (`--cpu-prof`)
      const exit = () => process.exit(0);
      setTimeout(exit, served.closeTimeoutMs ?? 3000).unref();
      served.close().then(exit, exit);
      return;
    }
    const handler = handlers[message.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no request ${message.type}`);
        return handler(message.payload);
      })
      .then(
        (value) => send({ type: 'reply', id: message.id, value }),
        (err: unknown) => send({ type: 'reply', id: message.id, error: errorText(err) }),
      );
  });
  send({ type: 'ready', value: served.value });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // not a top-level await: the child module imports this one, which must have finished loading first
  const [, , module, config] = process.argv;
  void import(pathToFileURL(module!).href).then(
    (m: { setup: (config: unknown) => Promise<Served<unknown>> }) =>
      serveParent(() => m.setup(JSON.parse(config ?? '{}'))),
  );
}

// ---- parent side ----

export interface ForkOptions {
  /** Names the child in errors. */
  label: string;
  /** @defaultValue 60 s */
  readyTimeoutMs?: number;
  /** Extra node flags for the child (the parent's own, such as tsx's loader, are kept). */
  execArgv?: readonly string[];
  /** Messages the child sends unasked (any `type` but the protocol's own), once it is ready. */
  onMessage?: (message: { type: string }) => void;
}

const kLive = new Set<ChildProcess>();
// a parent that dies (or is interrupted) must not leave its children behind
process.on('exit', () => {
  for (const child of kLive) child.kill('SIGKILL');
});

/** The parent's handle on a child. */
export class IpcChild<Ready = unknown> {
  readonly label: string;
  readonly ready: Ready;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (reply: Extract<FromChild, { type: 'reply' }>) => void>();
  #nextId = 0;

  private constructor(label: string, child: ChildProcess, ready: Ready, options: ForkOptions) {
    this.label = label;
    this.#child = child;
    this.ready = ready;
    child.on('message', (message: FromChild) => {
      if (message.type !== 'reply') return options.onMessage?.(message);
      this.#pending.get(message.id)?.(message);
      this.#pending.delete(message.id);
    });
    child.once('exit', (code, signal) => {
      // a child that dies fails whatever the parent is waiting for, at once
      for (const [id, settle] of this.#pending) {
        settle({ type: 'reply', id, error: `${label} exited (code ${code}, signal ${signal})` });
      }
      this.#pending.clear();
    });
  }

  /** Forks a process running `module`'s `setup(config)` and waits for its `ready`; kills it on failure. */
  static start<Ready>(module: string, config: unknown, options: ForkOptions): Promise<IpcChild<Ready>> {
    const { label, readyTimeoutMs = 60_000 } = options;
    const child = fork(kSelf, [module, JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, ...(options.execArgv ?? [])],
    });
    kLive.add(child);
    child.once('exit', () => kLive.delete(child));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`${label} not ready after ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', fail);
      };
      function fail(err: Error) {
        cleanup();
        child.kill('SIGKILL');
        reject(err);
      }
      function onExit(code: number | null, signal: string | null) {
        fail(new Error(`${label} exited before ready (code ${code}, signal ${signal})`));
      }
      function onMessage(message: FromChild) {
        if (message.type === 'failed') fail(new Error(`${label} failed to start: ${message.message}`));
        if (message.type !== 'ready') return;
        cleanup();
        resolve(new IpcChild(label, child, message.value as Ready, options));
      }
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', fail);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** One request; rejects with the child's error, or after `timeoutMs`. */
  request<T = unknown>(type: string, payload: unknown = undefined, timeoutMs = 15_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (!this.#child.connected) return reject(new Error(`${this.label} is gone (${type})`));
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.label} did not answer ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error !== undefined) reject(new Error(`${this.label}: ${type} failed: ${reply.error}`));
        else resolve(reply.value as T);
      });
      this.#child.send({ type, id, payload } satisfies ToChild);
    });
  }

  cpuUsage = () => this.request<NodeJS.CpuUsage>('cpu');

  /** Asks the child to close and exit; kills it after `graceMs`. Never rejects. */
  stop(graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (child.connected)
        child.send({ type: 'stop', id: this.#nextId++, payload: undefined } satisfies ToChild);
      else child.kill('SIGKILL');
    });
  }
}
