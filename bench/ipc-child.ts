/**
 * A benchmark process of its own, driven by its parent over IPC; every kind of child (a server, a master, a fleet
 * of virtual slaves) shares it. The child answers named requests; the parent waits for `ready` with a deadline,
 * bounds every request in time, and `stop()` never leaves the process behind (asked, then SIGKILLed). A child
 * whose parent disappears exits by itself.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

type ToChild = { type: string; id: number; payload: unknown };
type FromChild =
  | { type: 'ready'; value: unknown }
  | { type: 'failed'; message: string }
  | { type: 'reply'; id: number; value?: unknown; error?: string };

/**
 * What a child answers: one function per request type. `stop` is built in (calls `close`, then exits). A child may
 * also send messages of its own (progress, say) with `process.send`: any other `type` goes to the parent's
 * `onMessage`.
 */
// biome-ignore lint/suspicious/noExplicitAny: payloads are JSON crossing a process boundary
export type RequestHandlers = Record<string, (payload: any) => unknown>;

const errorText = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));

// ---- child side ----

/**
 * Call once in the child: runs `setup` (its value is the parent's `ready` value), then answers requests.
 * `close` runs on `stop`; the process exits when it settles, or after `closeTimeoutMs` (3 s by default).
 */
export async function serveParent<T>(
  setup: () => Promise<{
    value: T;
    handlers: RequestHandlers;
    close: () => Promise<void>;
    closeTimeoutMs?: number;
  }>,
): Promise<void> {
  const send = (message: FromChild) => process.send?.(message);
  // an orphaned child must not outlive the benchmark
  process.once('disconnect', () => process.exit(0));
  let served: Awaited<ReturnType<typeof setup>>;
  try {
    served = await setup();
  } catch (err) {
    send({ type: 'failed', message: errorText(err) });
    process.exit(1);
  }
  const { handlers, close, closeTimeoutMs = 3000 } = served;
  process.on('message', (message: ToChild) => {
    if (message.type === 'stop') {
      // process.exit (not a kill) lets node write a CPU profile (`--cpu-prof`)
      const exit = () => process.exit(0);
      setTimeout(exit, closeTimeoutMs).unref();
      close().then(exit, exit);
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

/**
 * Handlers `profile-start` ({ intervalUs }) and `profile-stop` ({ file }): the inspector CPU-profiles the child
 * for the window the parent chooses only (no start-up, no module loading, no warm-up) and writes a .cpuprofile.
 */
export function profileHandlers(): RequestHandlers {
  let session: Session | undefined;
  return {
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
  };
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
      if (message.type !== 'reply') {
        options.onMessage?.(message);
        return;
      }
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

  /** Forks `file` with `args` and waits for its `ready`; kills it if it fails or takes too long. */
  static start<Ready>(file: string, args: string[], options: ForkOptions): Promise<IpcChild<Ready>> {
    const { label, readyTimeoutMs = 60_000 } = options;
    const child = fork(file, args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, ...(options.execArgv ?? [])],
    });
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
      if (!this.#child.connected) {
        reject(new Error(`${this.label} is gone (${type})`));
        return;
      }
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

  /** For an `exit` handler: no waiting, no IPC. */
  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}
