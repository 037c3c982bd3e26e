import { randomBytes, timingSafeEqual } from 'node:crypto';

/** 64 hexadecimal characters from 32 random bytes: the form DI-engine peers expect. */
export function randomToken(): string {
  return randomBytes(32).toString('hex');
}

/**
 * A constant-time comparison against one fixed token, for the self token of the management routes.
 * The expected token becomes a Buffer once; lengths are compared first (the length of a token is public).
 * UTF-8 on both sides, so every character counts (latin1 would keep only the low byte of each).
 */
export function createTokenCheck(expected: string): (given: string) => boolean {
  const want = Buffer.from(expected, 'utf8');
  return (given) => {
    const got = Buffer.from(given, 'utf8');
    return got.length === want.length && timingSafeEqual(got, want);
  };
}
