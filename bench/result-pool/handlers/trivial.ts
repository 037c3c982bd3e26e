// The trivial result handler: returns the result it was given. On the pool, that value travels back to the main
// thread (typed arrays moved, the rest cloned), as any handler's value would.
import type { ResultHandlerInput } from '../../../src/master/results/handler.ts';
import { placeThread } from './place-thread.ts';

placeThread();

export default function handle({ result }: ResultHandlerInput) {
  return result;
}
