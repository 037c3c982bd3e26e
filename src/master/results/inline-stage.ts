import { decodeResultBody } from './decode.ts';
import type { Deliver, ResultJob, ResultStage, ResultVerdict } from './stage.ts';

/** Decodes on the main thread. Simple and cheapest per result, but a heavy result delays heartbeats. */
export class InlineResultStage implements ResultStage {
  readonly #deliver: Deliver;

  constructor(deliver: Deliver) {
    this.#deliver = deliver;
  }

  submit(job: ResultJob): Promise<ResultVerdict> {
    const decoded = decodeResultBody(job.body, job.contentType);
    if (!decoded.ok) return Promise.resolve({ kind: 'invalid', message: decoded.message });
    return Promise.resolve(this.#deliver(job, decoded.taskId, decoded.result));
  }

  async close(): Promise<void> {}
}
