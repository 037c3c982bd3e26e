import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The fleet secret (an extension; off by default so DI-engine peers work). Both ends prove they hold it without
 * sending it: each sends HMAC-SHA256(secret, role + ':' + token) in a `Fleet-Auth` header, the master on
 * `POST /connect` and the slave on its answer. The token is fresh for every connection, so a proof seen on the
 * wire is worth nothing for another one. A slave with a secret refuses a master without the proof (so nobody
 * who merely knows the channel can take it over); a master with a secret refuses a slave without one.
 */
export const kAuthHeader = 'fleet-auth';

export type Role = 'master' | 'slave';

export function fleetProof(secret: string, role: Role, token: string): string {
  return createHmac('sha256', secret).update(`${role}:${token}`).digest('hex');
}

export function isFleetProof(secret: string, role: Role, token: string, given: string): boolean {
  const want = Buffer.from(fleetProof(secret, role, token), 'utf8');
  const got = Buffer.from(given, 'utf8');
  return got.length === want.length && timingSafeEqual(got, want);
}
