import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BatchInput, JobVerdict, WireJob } from './handler.ts';
import type { ResultJob, ResultStage, ResultVerdict, StageHost } from './stage.ts';

export interface PoolStageOptions {
  /** Path or URL of the handler module; undefined: the threads only decode. */
  handler: string | undefined;
  threads: number;
  /** Results held at once (queued + on threads). */
  maxQueue: number;
  /** Body bytes held at once. */
  maxQueueBytes: number;
  /** Milliseconds one result's handler may run before its thread is replaced and the task fails. */
  timeLimitMs: number;
  /** Results handed to a thread in one go, at most. */
  maxBatch: number;
}

interface Entry {
  job: ResultJob;
  /** The body's size at submit time (the body itself is detached once transferred). */
  bytes: number;
  resolve: (verdict: ResultVerdict) => void;
}

interface Run {
  entries: Entry[];
  /** Its word in the shared progress array. */
  slot: number;
  /** The progress value the watchdog last saw (0: the thread has not started the batch). */
  seen: number;
  verdicts: (JobVerdict | undefined)[];
  controller: AbortController;
  /** When the job now on the thread must have finished (or, before it starts, when the thread must have). */
  deadline: number;
  port: MessagePort | undefined;
  timedOut: boolean;
}

type MessagePort = import('node:worker_threads').MessagePort;

/** How long a fresh thread may take to start and load the handler before its batch counts as hung. */
const kStartupAllowanceMs = 60_000;

// the thread entry sits beside this file, as .ts under tsx and as .js once built
const kThreadFile = new URL(`./thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;

/**
 * Runs result handlers on a Piscina pool so the main thread only moves bytes. Results wait in one queue here;
 * a thread that is free takes everything queued (up to `maxBatch`) in one hand-off, so under load the per-
 * result cost of crossing threads shrinks. Bodies are transferred, never cloned. One watchdog timer enforces
 * the per-result time limit; a run that times out or crashes fails only the result it was on, and the results
 * queued behind it in that batch go back to the queue.
 */
export class PoolResultStage implements ResultStage {
  readonly #host: StageHost;
  readonly #options: PoolStageOptions;
  readonly #pool: Piscina<BatchInput, JobVerdict[] | number>;
  readonly #queue: Entry[] = [];
  readonly #runs = new Set<Run>();
  readonly #roomWaiters: (() => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  /** One word per possible run; a thread writes which job of its batch it is on. */
  readonly #progress: Int32Array;
  readonly #freeSlots: number[];
  #held = 0;
  #heldBytes = 0;
  #dispatchScheduled = false;
  #watchdog: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(host: StageHost, options: PoolStageOptions) {
    this.#host = host;
    this.#options = options;
    this.#progress = new Int32Array(new SharedArrayBuffer(4 * options.threads));
    this.#freeSlots = Array.from({ length: options.threads }, (_, i) => i);
    this.#pool = new Piscina({
      filename: kThreadFile,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: 60_000,
      workerData: { handler: options.handler },
      // our own queue decides what runs; piscina never needs to queue more than one batch per thread
      maxQueue: options.threads * 2,
    });
  }

  get isFull(): boolean {
    return this.#held >= this.#options.maxQueue || this.#heldBytes >= this.#options.maxQueueBytes;
  }

  /** Results held (queued or on a thread). */
  get held(): number {
    return this.#held;
  }

  whenRoom(): Promise<void> {
    if (!this.isFull) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  submit(job: ResultJob): Promise<ResultVerdict> {
    if (this.#stopped) return Promise.resolve({ kind: 'shutdown' });
    this.#held++;
    this.#heldBytes += job.body.byteLength;
    return new Promise((resolve) => {
      this.#queue.push({ job, bytes: job.body.byteLength, resolve });
      this.#scheduleDispatch();
    });
  }

  async close(): Promise<void> {
    while (this.#held > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#stopped = true;
    this.#stopWatchdog();
    await this.#pool.close();
  }

  async destroy(): Promise<void> {
    this.#stopped = true;
    this.#stopWatchdog();
    for (const entry of this.#queue.splice(0)) this.#settle(entry, { kind: 'shutdown' });
    for (const run of this.#runs) run.controller.abort();
    await this.#pool.destroy();
  }

  #scheduleDispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    // results that arrive in the same event-loop turn travel together
    setImmediate(() => {
      this.#dispatchScheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && this.#runs.size < this.#options.threads && !this.#stopped) {
      // spread a burst over the free threads rather than giving one thread everything
      const free = this.#options.threads - this.#runs.size;
      const size = Math.min(this.#options.maxBatch, Math.ceil(this.#queue.length / free));
      this.#start(this.#queue.splice(0, size));
    }
  }

  #start(entries: Entry[]): void {
    const jobs: WireJob[] = [];
    const transferList: ArrayBuffer[] = [];
    for (const { job } of entries) {
      const body = ownedBytes(job.body);
      jobs.push({ outcome: job.outcome, slave: job.connection.name, body, contentType: job.contentType });
      transferList.push(body.buffer as ArrayBuffer);
    }
    let port: MessagePort | undefined;
    let threadPort: MessagePort | undefined;
    if (entries.length > 1) {
      const channel = new MessageChannel();
      port = channel.port1;
      threadPort = channel.port2;
      transferList.push(threadPort as unknown as ArrayBuffer);
    }
    const slot = this.#freeSlots.pop()!;
    Atomics.store(this.#progress, slot, 0);
    const run: Run = {
      entries,
      slot,
      seen: 0,
      verdicts: new Array(entries.length),
      controller: new AbortController(),
      // a thread that is still starting gets a generous allowance; the per-result limit applies once it runs
      deadline: performance.now() + Math.max(kStartupAllowanceMs, this.#options.timeLimitMs),
      port,
      timedOut: false,
    };
    this.#runs.add(run);
    this.#startWatchdog();
    port?.on('message', (message: [number, JobVerdict]) => this.#onVerdict(run, message));
    this.#pool
      .run(
        { jobs, port: threadPort, progress: this.#progress, slot },
        { transferList: transferList as never, signal: run.controller.signal },
      )
      .then(
        (result) => {
          if (Array.isArray(result))
            for (const [i, verdict] of result.entries()) this.#onVerdict(run, [i, verdict]);
          else this.#drainPort(run);
          this.#finish(run, undefined);
        },
        (err: unknown) => {
          this.#drainPort(run);
          const why = run.timedOut
            ? `result handler ran past its time limit of ${this.#options.timeLimitMs / 1000} s; its thread was replaced`
            : `result handler crashed its thread: ${err instanceof Error ? err.message : String(err)}`;
          this.#finish(run, why);
        },
      );
  }

  #onVerdict(run: Run, [i, verdict]: [number, JobVerdict]): void {
    if (run.verdicts[i] !== undefined) return;
    run.verdicts[i] = verdict;
    const entry = run.entries[i]!;
    this.#settle(entry, this.#verdictFor(entry.job, verdict));
  }

  /** Verdicts posted before the thread died are already queued on the port: take them synchronously. */
  #drainPort(run: Run): void {
    if (!run.port) return;
    for (let m = receiveMessageOnPort(run.port); m !== undefined; m = receiveMessageOnPort(run.port)) {
      this.#onVerdict(run, m.message as [number, JobVerdict]);
    }
    run.port.close();
  }

  #finish(run: Run, failure: string | undefined): void {
    this.#runs.delete(run);
    this.#freeSlots.push(run.slot);
    const unfinished = run.entries.filter((_, i) => run.verdicts[i] === undefined);
    if (unfinished.length > 0) {
      if (failure === undefined) failure = 'result thread returned without a verdict';
      // the thread works in order: the first unfinished result is the one it was on; the rest never started
      const [culprit, ...rest] = unfinished;
      this.#settle(culprit!, this.#host.fail(culprit!.job, culprit!.job.taskIdHint, failure));
      this.#queue.unshift(...rest);
    }
    if (this.#runs.size === 0) this.#stopWatchdog();
    this.#scheduleDispatch();
  }

  #verdictFor(job: ResultJob, verdict: JobVerdict): ResultVerdict {
    switch (verdict.kind) {
      case 'invalid':
        return verdict;
      case 'result':
        return this.#host.deliver(job, verdict.taskId, verdict.value);
      case 'handler-error':
        return this.#host.fail(job, verdict.taskId, `result handler failed: ${verdict.message}`);
    }
  }

  #settle(entry: Entry, verdict: ResultVerdict): void {
    this.#held--;
    this.#heldBytes -= entry.bytes;
    entry.resolve(verdict);
    if (!this.isFull) for (const wake of this.#roomWaiters.splice(0)) wake();
    if (this.#held === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #startWatchdog(): void {
    if (this.#watchdog) return;
    const every = Math.max(10, Math.min(250, this.#options.timeLimitMs / 4));
    this.#watchdog = setInterval(() => {
      const now = performance.now();
      for (const run of this.#runs) {
        const at = Atomics.load(this.#progress, run.slot);
        if (at !== run.seen) {
          // the thread moved on to a new job since the last look: its time starts now
          run.seen = at;
          run.deadline = now + this.#options.timeLimitMs;
        }
        if (!run.timedOut && now > run.deadline) {
          run.timedOut = true;
          run.controller.abort();
        }
      }
    }, every);
    this.#watchdog.unref();
  }

  #stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}

/** A view that owns its whole ArrayBuffer, so transferring it detaches nothing else. */
function ownedBytes(body: Buffer): Uint8Array {
  if (
    body.byteOffset === 0 &&
    body.byteLength === body.buffer.byteLength &&
    !(body.buffer instanceof SharedArrayBuffer)
  ) {
    return new Uint8Array(body.buffer, 0, body.byteLength);
  }
  const copy = new Uint8Array(body.byteLength);
  copy.set(body);
  return copy;
}
