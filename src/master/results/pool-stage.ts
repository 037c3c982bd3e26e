import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { describeError } from '../../describe-error.ts';
import { ResultHandlerLoadError } from '../../errors.ts';
import { type BatchInput, type BatchOutput, type ThreadData, verdictOf } from './batch.ts';
import {
  applyVerdict,
  type ResultJob,
  type ResultStage,
  type ResultVerdict,
  type StageHost,
  type StageLoad,
} from './stage.ts';

export interface PoolStageOptions {
  /** Path or URL of the handler module; undefined: the threads only decode. */
  handler: string | undefined;
  threads: number;
  /** Milliseconds one result's handler may run before its thread is replaced and the task fails. */
  timeLimitMs: number;
  /** Results handed to a thread in one go, at most. */
  maxBatch: number;
}

interface Entry {
  job: ResultJob;
  /** Hand-offs of this result that ended with their thread dying. */
  attempts: number;
  settled: boolean;
  resolve: (verdict: ResultVerdict) => void;
  /** Only for a fault of the stage itself; the front end then answers "Result could not be processed." */
  reject: (error: unknown) => void;
}

interface Run {
  entries: Entry[];
  /** Its two words in the shared progress array: [job index + 1 now running, the thread's id]. */
  slot: number;
  /** The progress value the watchdog last saw (0: the thread has not started the batch). */
  seen: number;
  /** When the job now on the thread must have finished (or, before it starts, when the thread must have). */
  deadline: number;
  timedOut: boolean;
  /** When it was handed to the pool (for the busy time). */
  started: number;
  /** Its slot and thread are given back (once, when piscina settles the run). */
  released: boolean;
}

/** How long a fresh thread may take to start and load the handler before its batch counts as hung. */
const kStartupAllowanceMs = 60_000;
/** Bodies up to this size travel packed into one buffer per hand-off; copies of larger ones travel alone. */
const kPackLimit = 64 * 1024;
/** A result whose hand-off failed this many times (its thread died each time) fails for good. */
const kMaxAttempts = 3;

// the thread entry sits beside this file, as .ts under tsx and as .js once built
const kThreadFile = new URL(`./thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;

/**
 * Runs result handlers on a Piscina pool so the main thread only moves bytes. Results wait in one queue here;
 * a thread that is free takes everything queued (up to `maxBatch`) in one hand-off, so under load the cost of
 * crossing threads is paid once per batch: small bodies are packed into one transferred buffer, large ones are
 * transferred, none is cloned, and the verdicts come back in one message.
 *
 * Faults: the thread writes into shared memory which job it is on. One watchdog timer terminates a thread
 * whose job outlives the time limit; when a thread dies (terminated, or crashed by the handler), the job it
 * was on fails with the reason and the rest of its batch goes back to the queue (with its bytes: the thread only
 * ever gets copies). Those before it in the batch had run their handler, but their values died with the thread,
 * so their handler runs again: handlers should tolerate running twice for a result in that rare case. A value
 * that cannot cross back fails its own job on the thread (`batch.ts`), so it never kills the thread. Every
 * callback the stage schedules catches what it throws and settles the results it holds with the reason.
 */
export class PoolResultStage implements ResultStage {
  readonly #host: StageHost;
  readonly #options: PoolStageOptions;
  readonly #pool: Piscina<BatchInput, BatchOutput>;
  readonly #queue: Entry[] = [];
  readonly #runs = new Set<Run>();
  readonly #idleWaiters: (() => void)[] = [];
  readonly #progress: Int32Array;
  readonly #freeSlots: number[];
  #held = 0;
  #dispatchScheduled = false;
  #watchdog: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Thread time of finished batches. */
  #busyMs = 0;

  constructor(host: StageHost, options: PoolStageOptions) {
    this.#host = host;
    this.#options = options;
    this.#progress = new Int32Array(new SharedArrayBuffer(8 * options.threads));
    this.#freeSlots = Array.from({ length: options.threads }, (_, i) => i * 2);
    this.#pool = new Piscina({
      filename: kThreadFile,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: 60_000,
      workerData: { handler: options.handler, progress: this.#progress } satisfies ThreadData,
      // our own queue decides what runs; piscina never needs to queue more than one batch per thread
      maxQueue: options.threads * 2,
    });
  }

  /** Results held (queued or on a thread). */
  get held(): number {
    return this.#held;
  }

  load(): StageLoad {
    return {
      held: this.#held,
      queued: this.#queue.length,
      threads: this.#options.threads,
      busyThreads: this.#runs.size,
      busyMs: this.#busyMs + this.#runningMs(),
    };
  }

  /** Loads the handler on a thread (`start()` waits for it); rejects with a `ResultHandlerLoadError`. */
  async ready(): Promise<void> {
    const { handler } = this.#options;
    if (handler === undefined) return;
    try {
      await this.#pool.run(undefined as never, { name: 'load' });
    } catch (err) {
      throw new ResultHandlerLoadError(handler, err);
    }
  }

  submit(job: ResultJob): Promise<ResultVerdict> {
    if (this.#stopped) return Promise.resolve({ kind: 'shutdown' });
    this.#held++;
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, attempts: 0, settled: false, resolve, reject });
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
    for (const entry of this.#queue.splice(0)) this.#settle(entry, () => ({ kind: 'shutdown' }));
    // the runs piscina rejects now settle as shutdown too (see #died)
    await this.#pool.destroy();
  }

  #scheduleDispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    // results that arrive in the same event-loop turn travel together
    setImmediate(() => {
      this.#dispatchScheduled = false;
      try {
        this.#dispatch();
      } catch (err) {
        // #start settles its own batch when it fails; this guard is for the loop itself: nothing queued may
        // be left waiting, and nothing may escape into the event loop (an exception here ends the process)
        const reason = `result could not be handed to a thread: ${describeError(err)}`;
        for (const entry of this.#queue.splice(0)) this.#fail(entry, reason);
      }
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
    let packed: ReturnType<typeof packJobs>;
    try {
      packed = packJobs(entries);
    } catch (err) {
      const reason = `result could not be handed to a thread: ${describeError(err)}`;
      for (const entry of entries) this.#fail(entry, reason);
      return;
    }
    const { batch, transferList } = packed;
    const slot = this.#freeSlots.pop()!;
    Atomics.store(this.#progress, slot, 0);
    Atomics.store(this.#progress, slot + 1, -1);
    const run: Run = {
      entries,
      slot,
      seen: 0,
      // a thread that is still starting gets a generous allowance; the per-result limit applies once it runs
      deadline: performance.now() + Math.max(kStartupAllowanceMs, this.#options.timeLimitMs),
      timedOut: false,
      started: performance.now(),
      released: false,
    };
    this.#runs.add(run);
    this.#startWatchdog();
    batch.slot = slot;
    let reply: Promise<BatchOutput>;
    try {
      reply = this.#pool.run(batch, { transferList: transferList as never });
    } catch (err) {
      reply = Promise.reject(err); // handed over nowhere: its results go back to the queue, like a dead thread's
    }
    // both handlers are guarded, so nothing can reject past them
    void reply.then(
      (out) => this.#guard(run, () => this.#completed(run, out)),
      (err: unknown) => this.#guard(run, () => this.#died(run, err)),
    );
  }

  /** Runs a callback of a finished run: whatever it throws settles the run's results; the run is released. */
  #guard(run: Run, callback: () => void): void {
    try {
      callback();
    } catch (err) {
      this.#abandon(run, err);
    } finally {
      this.#release(run);
    }
  }

  #completed(run: Run, out: BatchOutput): void {
    const { entries } = run;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      this.#settle(entry, () => applyVerdict(this.#host, entry.job, verdictOf(out, i)));
    }
  }

  #died(run: Run, err: unknown): void {
    const reason = run.timedOut
      ? `result handler ran past its time limit of ${this.#options.timeLimitMs / 1000} s; its thread was replaced`
      : `result handler crashed its thread: ${describeError(err)}`;
    // the thread works in order: the job it was on failed; the others go back to the queue
    const on = Atomics.load(this.#progress, run.slot) - 1;
    const again: Entry[] = [];
    for (const [i, entry] of run.entries.entries()) {
      if (entry.settled) continue;
      if (this.#stopped) {
        this.#settle(entry, () => ({ kind: 'shutdown' }));
        continue;
      }
      entry.attempts++;
      if (i === on) this.#fail(entry, reason);
      else if (entry.attempts >= kMaxAttempts) {
        this.#fail(
          entry,
          `handed to ${entry.attempts} threads that each died before its verdict came back (last: ${reason})`,
        );
      } else again.push(entry);
    }
    this.#queue.unshift(...again);
  }

  /** Something of the stage's own failed around a run: its results fail with the reason (never wait). */
  #abandon(run: Run, err: unknown): void {
    const reason = `result could not be processed: ${describeError(err)}`;
    for (const entry of run.entries) this.#fail(entry, reason);
  }

  #runningMs(): number {
    const now = performance.now();
    let ms = 0;
    for (const run of this.#runs) ms += now - run.started;
    return ms;
  }

  #release(run: Run): void {
    if (run.released) return;
    run.released = true;
    this.#busyMs += performance.now() - run.started;
    this.#runs.delete(run);
    this.#freeSlots.push(run.slot);
    if (this.#runs.size === 0) this.#stopWatchdog();
    this.#scheduleDispatch();
  }

  #fail(entry: Entry, reason: string): void {
    this.#settle(entry, () => this.#host.fail(entry.job, entry.job.taskIdHint, reason));
  }

  /**
   * Settles a result once, with the verdict `verdict()` gives; if that throws (a fault of the master's own,
   * never of the peer's), the result's promise rejects with it instead.
   */
  #settle(entry: Entry, verdict: () => ResultVerdict): void {
    if (entry.settled) return;
    entry.settled = true;
    this.#held--;
    try {
      entry.resolve(verdict());
    } catch (err) {
      entry.reject(err);
    }
    if (this.#held === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #startWatchdog(): void {
    if (this.#watchdog) return;
    const every = Math.max(10, Math.min(250, this.#options.timeLimitMs / 4));
    this.#watchdog = setInterval(() => {
      const now = performance.now();
      for (const run of this.#runs) {
        try {
          this.#check(run, now);
        } catch (err) {
          // its results fail now; the run itself is released when piscina settles it
          this.#abandon(run, err);
        }
      }
    }, every);
    this.#watchdog.unref();
  }

  #check(run: Run, now: number): void {
    const at = Atomics.load(this.#progress, run.slot);
    if (at !== run.seen) {
      // the thread moved on to a new job since the last look: its time starts now
      run.seen = at;
      run.deadline = now + this.#options.timeLimitMs;
    }
    if (!run.timedOut && now > run.deadline) {
      run.timedOut = true;
      this.#terminate(Atomics.load(this.#progress, run.slot + 1));
    }
  }

  /** Ends the thread a hung job runs on; piscina rejects its run and starts a replacement. */
  #terminate(threadId: number): void {
    const thread = this.#pool.threads.find((t) => t.threadId === threadId);
    thread?.terminate().catch(() => undefined);
  }

  #stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}

/**
 * A batch as the thread gets it (`BatchInput`). Small bodies are copied into one fresh buffer (one transfer
 * instead of one per result: cheaper for small bodies, measured); large ones are copied one by one. Never the
 * body itself: a transferred body is gone from this thread, and a result whose thread dies is handed over again.
 * The copy costs ~50 µs per MiB here (2 shared cores, loaded), ~2% of the master's CPU per 1 MB MessagePack
 * result in `bench/result-pool/` (~2.3 ms each, pool of 1).
 */
function packJobs(entries: Entry[]): { batch: BatchInput; transferList: ArrayBuffer[] } {
  const n = entries.length;
  let packed = 0;
  for (const { job } of entries) if (job.body.byteLength <= kPackLimit) packed += job.body.byteLength;
  const pack = new Uint8Array(packed);
  const ends = new Uint32Array(n);
  const transferList: ArrayBuffer[] = [pack.buffer, ends.buffer];
  const slaves: string[] = new Array(n);
  const contentTypes: string[] = new Array(n);
  let outcomes = '';
  let large: (Uint8Array | null)[] | undefined;
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const { job } = entries[i]!;
    if (job.body.byteLength <= kPackLimit) {
      pack.set(job.body, offset);
      offset += job.body.byteLength;
    } else {
      large ??= new Array(n).fill(null);
      const copy = new Uint8Array(job.body);
      large[i] = copy;
      transferList.push(copy.buffer);
    }
    ends[i] = offset;
    outcomes += job.outcome === 'fail' ? 'f' : 'c';
    slaves[i] = job.connection.name;
    contentTypes[i] = job.contentType;
  }
  return { batch: { pack, ends, large, outcomes, slaves, contentTypes, slot: -1 }, transferList };
}
