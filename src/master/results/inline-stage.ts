import { ResultHandlerLoadError } from '../../errors.ts';
import { loadHandler, type ResultHandler, runJob } from './handler.ts';
import {
  applyVerdict,
  type ResultJob,
  type ResultStage,
  type ResultVerdict,
  type StageHost,
  type StageLoad,
} from './stage.ts';

/**
 * Decodes and runs the handler on the main thread (`resultThreads: 0`). Cheapest per small result, but a
 * heavy handler delays heartbeats: it is the baseline the pool is measured against, and a choice for
 * masters whose handlers are trivial.
 */
export class InlineResultStage implements ResultStage {
  readonly #host: StageHost;
  readonly #url: string | undefined;
  readonly #handler: Promise<ResultHandler> | undefined;
  #held = 0;

  constructor(host: StageHost, handler: string | undefined) {
    this.#host = host;
    this.#url = handler;
    this.#handler = handler === undefined ? undefined : loadHandler(handler);
    this.#handler?.catch(() => undefined); // surfaced by ready(), and per job below
  }

  async ready(): Promise<void> {
    if (this.#url === undefined) return;
    try {
      await this.#handler;
    } catch (err) {
      throw new ResultHandlerLoadError(this.#url, err);
    }
  }

  load(): StageLoad {
    return { held: this.#held, queued: 0, threads: 0, busyThreads: 0, busyMs: 0 };
  }

  async submit(job: ResultJob): Promise<ResultVerdict> {
    this.#held++;
    try {
      return await this.#run(job);
    } finally {
      this.#held--;
    }
  }

  async #run(job: ResultJob): Promise<ResultVerdict> {
    try {
      const handler = this.#handler ? await this.#handler : undefined;
      const verdict = await runJob(
        { outcome: job.outcome, slave: job.connection.name, body: job.body, contentType: job.contentType },
        handler,
      );
      return applyVerdict(this.#host, job, verdict);
    } catch (err) {
      return this.#host.fail(job, job.taskIdHint, `result handler could not load: ${String(err)}`);
    }
  }

  async close(): Promise<void> {}

  async destroy(): Promise<void> {}
}
