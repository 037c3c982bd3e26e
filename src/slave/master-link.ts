import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { type PeerAnswer, PeerClient, type RequestOptions } from '../client/peer-client.ts';
import {
  BadAnswerError,
  isResponseError,
  MasterResultStageBusyError,
  MasterSlaveTokenInvalidError,
  masterErrorFor,
} from '../errors.ts';
import { encodeBody, kJson, kMsgpack } from '../protocol/codec.ts';
import { Extension, kExtensionsHeader, kOurExtensions, speaks } from '../protocol/extensions.ts';
import { createTokenCheck } from '../protocol/token.ts';
import type { ResolvedSlaveOptions } from './options.ts';
import type { LinkHealth, ProbeOutcome } from './takeover.ts';

/** How long a probe of the current master may take before it counts as silent. */
const kProbeMs = 2000;

/**
 * After `/connect`, how long a refusal of this slave's token may be the master's not having listed it yet: a
 * DI-engine master lists a slave only once it has processed the `/connect` answer, and the first heartbeat goes
 * out with that answer. At least this long, and at least two spans (so a refused beat has been tried twice more).
 * A fleetmaster master (it announces its extensions on `/connect`) lists the token before, so it gets no grace:
 * its refusal is final at once (e.g. a master restarted on its port).
 */
const kEarlyGraceMs = 5000;

export interface LinkCounters {
  /** 503 answers met while reporting results (the master pushed back; the report was sent again). */
  pushedBack: number;
}

/**
 * The slave's side of one connection: heartbeats on a drift-free schedule, and result reports, through one
 * keep-alive undici pool to the master. Any heartbeat failure (after retries) or refusal ends the link, except a
 * DI-engine master's refusal of the token before it has accepted any heartbeat, within the early grace
 * (`kEarlyGraceMs`): that one may be this slave's being early, and the beat is sent again on schedule.
 */
export class MasterLink {
  readonly token: string;
  readonly address: string;
  readonly #client: PeerClient;
  readonly #isToken: (given: string) => boolean;
  readonly #spanMs: number;
  readonly #onLost: (link: MasterLink, error: Error) => void;
  readonly #counters: LinkCounters;
  /** Content type of result bodies: MessagePack only when asked for and the master announced it. */
  readonly #format: string;
  #timer: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;
  /** When the link was made, and the end of its early grace (`performance.now()` ms). */
  readonly #graceEnds: number;
  /** True once the master has accepted a heartbeat: from then on a refusal means it no longer knows this slave. */
  #accepted = false;
  /** Since when a request to the master has gone unanswered; undefined once one was answered (a refusal too). */
  #waitingSince: number | undefined;
  /** The probe in flight, shared by every caller until it settles. */
  #probing: Promise<ProbeOutcome> | undefined;

  constructor(
    options: ResolvedSlaveOptions,
    token: string,
    address: string,
    masterExtensions: string,
    counters: LinkCounters,
    onLost: (link: MasterLink, error: Error) => void,
  ) {
    this.#counters = counters;
    this.token = token;
    this.#isToken = createTokenCheck(token);
    this.address = address.replace(/\/$/, '');
    this.#spanMs = options.heartbeatSpan * 1000;
    const listsFirst = masterExtensions !== '';
    this.#graceEnds = performance.now() + (listsFirst ? 0 : Math.max(kEarlyGraceMs, 2 * this.#spanMs));
    this.#onLost = onLost;
    this.#format =
      options.format === 'msgpack' && speaks(masterExtensions, Extension.MSGPACK) ? kMsgpack : kJson;
    this.#client = new PeerClient({
      origin: this.address,
      headers: { channel: String(options.channel), token, [kExtensionsHeader]: kOurExtensions },
      retries: options.requestRetries,
      retryWaitingMs: options.requestRetryWaiting * 1000,
      timeoutMs: options.requestTimeout * 1000,
      errorFor: masterErrorFor,
      connections: 2,
      tls: options.masterTls,
    });
  }

  /** True when `given` is this link's token (constant time: the token is what a master proves itself with). */
  isToken(given: string): boolean {
    return this.#isToken(given);
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Starts heartbeating: the first beat goes out at once, the next ones every span from then. */
  start(): void {
    this.#next = performance.now();
    this.#beat();
  }

  /**
   * `PUT /slave/task/{complete,fail}`; the `Task-Id` header lets a fleetmaster master route it unread. When the
   * master's result stage is full it answers 503 with `Retry-After`: wait and send again, for as long as the
   * link lives (a master that is gone fails the heartbeat, which closes the link).
   */
  async report(outcome: 'complete' | 'fail', taskId: string, result: unknown): Promise<void> {
    const body = encodeBody({ task: { id: taskId }, result: result ?? {} }, this.#format);
    const headers = { 'task-id': taskId };
    for (;;) {
      try {
        await this.#ask('PUT', `/slave/task/${outcome}`, {
          body,
          contentType: this.#format,
          headers,
        });
        return;
      } catch (err) {
        if (!(err instanceof MasterResultStageBusyError) || this.#closed) throw err;
        this.#counters.pushedBack++;
        await sleep(retryDelayMs(err.data, err.retryAfter));
      }
    }
  }

  /**
   * One heartbeat now, no retry, a short wait (even if the link's sockets are all held by a hung master). Callers
   * meanwhile share it: a crowd of `/connect`s puts one probe in flight, not one each.
   */
  probe(): Promise<ProbeOutcome> {
    if (this.#probing) return this.#probing;
    const probing = this.#probeOnce();
    this.#probing = probing;
    void probing.finally(() => {
      if (this.#probing === probing) this.#probing = undefined;
    });
    return probing;
  }

  async #probeOnce(): Promise<ProbeOutcome> {
    if (this.#closed) return 'silent';
    const signal = AbortSignal.timeout(kProbeMs);
    const asked = this.#ask('GET', '/slave/heartbeat', { retries: 0, signal }).then(
      (): ProbeOutcome => {
        this.#accepted = true;
        return 'answered';
      },
      (err: unknown): ProbeOutcome => (isAnswer(err) ? 'refused' : 'silent'),
    );
    return Promise.race([asked, once(signal, 'abort').then((): ProbeOutcome => 'silent')]);
  }

  /** What `isMasterGone` weighs, now. */
  health(): LinkHealth {
    const now = performance.now();
    return {
      accepted: this.#accepted,
      inGrace: now < this.#graceEnds,
      silentForMs: this.#waitingSince === undefined ? 0 : now - this.#waitingSince,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#client.close();
  }

  /** Every request to the master goes through here, so the link knows for how long the master has been silent. */
  #ask(method: 'GET' | 'PUT', path: string, options?: RequestOptions): Promise<PeerAnswer> {
    this.#waitingSince ??= performance.now();
    return this.#client.request(method, path, options).then(
      (answer) => {
        this.#waitingSince = undefined;
        return answer;
      },
      (err: unknown) => {
        if (isAnswer(err)) this.#waitingSince = undefined;
        throw err;
      },
    );
  }

  #beat = (): void => {
    if (this.#closed) return;
    this.#ask('GET', '/slave/heartbeat').then(
      () => {
        this.#accepted = true;
        this.#schedule();
      },
      (err: unknown) => {
        if (this.#closed) return;
        if (this.#mayBeEarly(err)) return this.#schedule();
        this.#onLost(this, err instanceof Error ? err : new Error(String(err)));
      },
    );
  };

  #schedule(): void {
    if (this.#closed) return;
    this.#next += this.#spanMs;
    const now = performance.now();
    if (this.#next < now) this.#next = now; // fell behind (a stall): do not burst to catch up
    this.#timer = setTimeout(this.#beat, this.#next - now);
    this.#timer.unref();
  }

  /** A refusal of the token that this slave may have caused by beating before the master listed it. */
  #mayBeEarly(err: unknown): boolean {
    return (
      err instanceof MasterSlaveTokenInvalidError && !this.#accepted && performance.now() < this.#graceEnds
    );
  }
}

/** The master answered, if only with a refusal or something that is not the protocol: it is there. */
function isAnswer(err: unknown): boolean {
  return isResponseError(err) || err instanceof BadAnswerError;
}

/** The master's hint (data.retryAfterMs, else Retry-After seconds), spread ±50% so slaves do not return in step. */
function retryDelayMs(data: unknown, retryAfter: number | undefined): number {
  const hinted = (data as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  const base = typeof hinted === 'number' && hinted > 0 ? hinted : (retryAfter ?? 1) * 1000;
  return Math.min(30_000, Math.max(10, base)) * (0.5 + Math.random());
}
