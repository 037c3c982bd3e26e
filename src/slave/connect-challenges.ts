import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface ChallengeLimits {
  /** How long after it was made a nonce may be answered, ms. */
  readonly ttlMs: number;
  /** Spent nonces remembered at once (each until it expires); past it, proofs are refused until some expire. */
  readonly maxSpent: number;
  /** Tokens of past connects remembered (the oldest is forgotten first). */
  readonly maxTokens: number;
}

/**
 * 30 s covers a master's second `/connect` even through its retries (5 × 1 s by default). 1024 spent nonces in
 * 30 s is 34 proven connects a second, for a slave that has one master; 1024 tokens outlast any nonce by far.
 */
export const kChallengeLimits: ChallengeLimits = Object.freeze({
  ttlMs: 30_000,
  maxSpent: 1024,
  maxTokens: 1024,
});

export type NonceVerdict = 'ok' | 'unknown' | 'expired' | 'spent' | 'busy';

/** Made-at time (6 bytes, ms), 12 random bytes, then a MAC of both under this slave's own key (16 bytes). */
const kStamped = 18;
const kNonceBytes = kStamped + 16;

/**
 * The slave's side of the fleet-secret challenge: the nonces it hands out, which of them were spent, and the
 * tokens masters have connected with.
 *
 * Issuing holds nothing: a nonce carries the time it was made, under a MAC keyed by a random key of this slave
 * alone, so anyone may ask for millions (an unauthenticated `/connect` gets one) at no memory cost, and a nonce
 * is good only at the slave that made it and only for `ttlMs`. A nonce is spent once a proof over it checked out,
 * which takes the secret: so only a holder of the secret can add to the spent set, and each entry leaves it when
 * its nonce would have expired anyway (at most `maxSpent` at once). Tokens are remembered only for connects that
 * succeeded, likewise only possible with the secret; the oldest beyond `maxTokens` is forgotten, harmlessly, since
 * using it again would still take a fresh nonce and the secret.
 */
export class ConnectChallenges {
  readonly #key = randomBytes(32);
  readonly #limits: ChallengeLimits;
  readonly #now: () => number;
  /** Spent nonce → when it expires; insertion order is expiry order (one ttl, a monotonic clock). */
  readonly #spent = new Map<string, number>();
  readonly #tokens = new Set<string>();

  constructor(limits: ChallengeLimits = kChallengeLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Spent nonces and tokens held now (for tests and for the record: both stay within their limits). */
  get held(): { spent: number; tokens: number } {
    return { spent: this.#spent.size, tokens: this.#tokens.size };
  }

  issue(): string {
    const nonce = Buffer.allocUnsafe(kNonceBytes);
    nonce.writeUIntBE(Math.floor(this.#now()), 0, 6);
    randomBytes(kStamped - 6).copy(nonce, 6);
    this.#sign(nonce.subarray(0, kStamped)).copy(nonce, kStamped);
    return nonce.toString('base64url');
  }

  /** Whether a proof over this nonce may be accepted now; spend it once the proof checked out. */
  check(nonce: string): NonceVerdict {
    const bytes = Buffer.from(nonce, 'base64url');
    // base64url decoding skips what it cannot read: a nonce must be exactly what issue() wrote
    if (bytes.length !== kNonceBytes || bytes.toString('base64url') !== nonce) return 'unknown';
    if (!timingSafeEqual(bytes.subarray(kStamped), this.#sign(bytes.subarray(0, kStamped)))) return 'unknown';
    const now = this.#now();
    const age = now - bytes.readUIntBE(0, 6);
    if (age < 0 || age > this.#limits.ttlMs) return 'expired';
    this.#forgetExpired(now);
    if (this.#spent.has(nonce)) return 'spent';
    if (this.#spent.size >= this.#limits.maxSpent) return 'busy';
    return 'ok';
  }

  /** Marks a nonce used (after `check` said 'ok' and its proof checked out): it will not be accepted again. */
  spend(nonce: string): void {
    this.#spent.set(nonce, this.#now() + this.#limits.ttlMs);
  }

  isTokenUsed(token: string): boolean {
    return this.#tokens.has(token);
  }

  useToken(token: string): void {
    this.#tokens.add(token);
    if (this.#tokens.size <= this.#limits.maxTokens) return;
    for (const oldest of this.#tokens) {
      this.#tokens.delete(oldest);
      return;
    }
  }

  #sign(stamped: Buffer): Buffer {
    return createHmac('sha256', this.#key)
      .update(stamped)
      .digest()
      .subarray(0, kNonceBytes - kStamped);
  }

  #forgetExpired(now: number): void {
    for (const [nonce, expires] of this.#spent) {
      if (expires > now) return;
      this.#spent.delete(nonce);
    }
  }
}
