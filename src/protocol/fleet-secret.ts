import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The fleet secret (an extension; off by default so DI-engine peers work): on `POST /connect` both ends prove
 * they hold the secret without sending it, each over a nonce the other side (the verifier) just made:
 *
 * 1. master → slave: `POST /connect`, no proof. A slave with a secret refuses it (403, code 503) with a challenge
 *    in the refusal's data, `{ reason, fleetChallenge }`: a nonce it made, valid once and for a short time.
 * 2. master → slave: the same request again, with `Fleet-Auth: <slave nonce>.<proof>` and
 *    `Fleet-Challenge: <master nonce>`, a nonce of the master's own.
 * 3. the slave checks the proof, spends its nonce, connects, and answers with
 *    `Fleet-Auth: <master nonce>.<proof>`. Only a success carries a proof.
 *
 * A proof is `hex(HMAC-SHA256(secret, "fleetmaster-connect\n" + role + "\n" + nonce + "\n" + token + "\n" +
 * hex(SHA-256(body))))`: bound to the verifier's fresh nonce, to the token and to the exact `/connect` body,
 * which carries `master.address`. See docs/protocol.md for what this does and does not protect against.
 */
export const kAuthHeader = 'fleet-auth';
export const kChallengeHeader = 'fleet-challenge';

export type Role = 'master' | 'slave';

const kDomain = 'fleetmaster-connect';
/** A nonce as either end makes it: base64url, long enough to be unguessable, short enough to be cheap. */
const kNonceShape = /^[A-Za-z0-9_-]{22,128}$/;
const kMacShape = /^[0-9a-f]{64}$/;

/** What a proof covers of the request: the SHA-256 of its body bytes, as they travel. */
export function bodyDigest(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** A nonce of 18 random bytes (the master's, held only for the one `/connect` it is made for). */
export function randomNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function isNonceShaped(value: unknown): value is string {
  return typeof value === 'string' && kNonceShape.test(value);
}

function mac(secret: string, role: Role, nonce: string, token: string, digest: string): string {
  return createHmac('sha256', secret)
    .update(`${kDomain}\n${role}\n${nonce}\n${token}\n${digest}`)
    .digest('hex');
}

/** The `Fleet-Auth` value: the verifier's nonce, then the proof over it. */
export function fleetProof(secret: string, role: Role, nonce: string, token: string, digest: string): string {
  return `${nonce}.${mac(secret, role, nonce, token, digest)}`;
}

/** Splits a `Fleet-Auth` value into the nonce it answers and its proof; undefined when it has not that shape. */
export function parseFleetProof(value: string): { nonce: string; proof: string } | undefined {
  const dot = value.indexOf('.');
  if (dot < 0) return undefined;
  const nonce = value.slice(0, dot);
  const proof = value.slice(dot + 1);
  return kNonceShape.test(nonce) && kMacShape.test(proof) ? { nonce, proof } : undefined;
}

/** True when `value` is the proof of `role` over exactly this nonce, token and body digest (constant time). */
export function isFleetProof(
  secret: string,
  role: Role,
  nonce: string,
  token: string,
  digest: string,
  value: string,
): boolean {
  const parsed = parseFleetProof(value);
  if (parsed === undefined || parsed.nonce !== nonce) return false;
  const want = Buffer.from(mac(secret, role, nonce, token, digest), 'hex');
  return timingSafeEqual(Buffer.from(parsed.proof, 'hex'), want);
}
