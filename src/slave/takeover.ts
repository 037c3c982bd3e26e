/**
 * When a connected slave may leave its master for another one that did not prove the fleet secret. Anyone who
 * knows the channel can send `/connect`, so "the current master did not answer one quick probe" is not enough: a
 * master paused by a long GC or a VM migration would lose its slave to the first caller. The slave leaves only a
 * master that is demonstrably gone.
 */

/** How the current master met a probe heartbeat sent when the other `/connect` came in. */
export type ProbeOutcome =
  /** it answered the heartbeat: it is alive and knows this slave */
  | 'answered'
  /** it answered with a refusal (or not with the protocol at all): whoever listens there does not know this slave */
  | 'refused'
  /** no answer: unreachable, or not answering in time */
  | 'silent';

export interface LinkHealth {
  /** The master has accepted at least one heartbeat on this link. */
  readonly accepted: boolean;
  /** Within the early grace after `/connect`, when a refusal may be the master's not having listed the slave yet. */
  readonly inGrace: boolean;
  /** How long a request to the master has gone unanswered (0 when its last request was answered), ms. */
  readonly silentForMs: number;
}

/**
 * True when the current master is gone: it refused the probe (after it had accepted this slave, or after the
 * early grace; the master at that address, e.g. one restarted on its port, no longer knows the slave), or it has
 * answered nothing for longer than `masterTimeoutMs`.
 */
export function isMasterGone(probe: ProbeOutcome, health: LinkHealth, masterTimeoutMs: number): boolean {
  if (probe === 'answered') return false;
  if (probe === 'refused' && (health.accepted || !health.inGrace)) return true;
  return health.silentForMs > masterTimeoutMs;
}
