import { describeError } from './handler.ts';

/**
 * `start()` could not load the result handler module (it threw while loading, or has no default export
 * function). `cause` is what the module threw, as it reached the main thread.
 */
export class ResultHandlerLoadError extends Error {
  readonly code = 'FLEETMASTER_RESULT_HANDLER_LOAD';
  /** The module's URL, as resolved from `resultHandler`. */
  readonly handler: string;

  constructor(handler: string, cause: unknown) {
    super(`result handler ${handler} could not be loaded: ${describeError(cause)}`, { cause });
    this.name = 'ResultHandlerLoadError';
    this.handler = handler;
  }
}
