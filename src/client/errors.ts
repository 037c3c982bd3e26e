/** The errors every transport (undici, the lean client) gives for an answer that breaks one of its bounds. */

/** Which bound an answer broke. */
export type AnswerLimit = 'body' | 'head' | 'trailers' | 'interim';

/**
 * The peer answered past a bound: a body over `maxAnswerBytes`, a head or trailers over their size or count, or
 * too many interim (1xx) answers. Not retried: the peer did answer (the request reached it and may have been
 * acted on, so sending it again could start a task twice), and a peer that answers this way once will again, each
 * time costing the memory the bound exists to protect.
 */
export class AnswerTooLargeError extends Error {
  readonly code = 'FLEETMASTER_ANSWER_TOO_LARGE';
  readonly limit: AnswerLimit;
  constructor(limit: AnswerLimit, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AnswerTooLargeError';
    this.limit = limit;
  }
}

/**
 * No complete answer within the request's one deadline (`timeoutMs` from the call; bytes arriving do not extend
 * it). Retried like a connection failure: a slow peer may be a passing fault.
 */
export class AnswerTimeoutError extends Error {
  readonly code = 'FLEETMASTER_ANSWER_TIMEOUT';
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no complete answer within ${timeoutMs} ms`);
    this.name = 'AnswerTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}
