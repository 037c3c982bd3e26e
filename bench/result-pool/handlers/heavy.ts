// A CPU-heavy result handler: a few milliseconds of real work per result (calibrated rounds of SHA-256, see
// burn.ts), whatever the result's size. Returns a small value, so moving it back costs next to nothing.
import type { ResultHandlerInput } from '../../../src/master/results/handler.ts';
import { burn, kRoundsEnv } from './burn.ts';
import { placeThread } from './place-thread.ts';

placeThread();

const rounds = Number(process.env[kRoundsEnv]);
if (!Number.isInteger(rounds) || rounds < 1) {
  throw new Error(`bench/result-pool/handlers/heavy.ts needs ${kRoundsEnv} (a positive integer)`);
}

export default function handle({ taskId }: ResultHandlerInput) {
  return { digest: burn(rounds, taskId) };
}
