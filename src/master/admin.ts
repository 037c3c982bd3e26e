import { createHostCheck, defaultAllowedHosts } from '../http/allowed-hosts.ts';
import type { HttpApp, HttpRequest } from '../http/engine.ts';
import { guardApp } from '../http/guarded-app.ts';
import { answerUnrouted, PendingReply, sendNow } from '../http/reply.ts';
import { type Answer, ok } from '../protocol/envelope.ts';
import { kAnswers } from './answers.ts';
import type { FleetStatus } from './status.ts';

/** What the operator routes read from the master. */
export interface AdminHost {
  status(): FleetStatus;
  /** The exposition text, or undefined when metrics are off. */
  metrics(): Promise<string> | undefined;
  readonly metricsContentType: string;
  warn(message: string, error: unknown): void;
  /** Counts an error answer by its protocol code (`request_errors_total`). */
  answeredError(code: number): void;
}

/**
 * `GET /status` (the fleet as JSON, in the protocol's envelope) and `GET /metrics` (Prometheus text). On the
 * front end `refuse` checks the self token; on the admin listener it lets everything through.
 */
export function mountAdminRoutes(
  app: HttpApp,
  host: AdminHost,
  refuse: (req: HttpRequest) => Answer | undefined,
): void {
  app.get('/status', (res, req) => {
    const refused = refuse(req);
    if (refused) return sendNow(res, refused);
    sendNow(res, ok('Fleet status.', host.status()));
  });

  app.get('/metrics', (res, req) => {
    const refused = refuse(req);
    if (refused) return sendNow(res, refused);
    const text = host.metrics();
    if (text === undefined) {
      host.answeredError(kAnswers.metricsOff.code);
      return sendNow(res, kAnswers.metricsOff);
    }
    const reply = new PendingReply(res);
    text.then(
      (body) => reply.sendText(body, host.metricsContentType),
      (err: unknown) => {
        host.warn('metrics collection failed', err);
        host.answeredError(kAnswers.metricsFailed.code);
        reply.send(kAnswers.metricsFailed);
      },
    );
  });
}

/** The admin listener's answer to any other route (counted like the front end's). */
export function mountAdminFallback(app: HttpApp, host: AdminHost): void {
  app.any('/*', (res, req) => {
    host.answeredError(kAnswers.routeNotFound.code);
    answerUnrouted(res, req, kAnswers.routeNotFound);
  });
}

/**
 * The admin listener's app as its routes see it: every route behind the `Host` check, so that a page whose name
 * was rebound to the listener's address (DNS rebinding) cannot read it from the operator's browser. Allowed:
 * loopback names, `adminHost` (unless a wildcard) and `adminAllowedHosts`; anything else, or no `Host`, is answered
 * 403 (code 910) before any route runs. The master's front end is never wrapped.
 */
export function guardAdminApp(
  app: HttpApp,
  host: AdminHost,
  options: { readonly adminHost: string; readonly adminAllowedHosts: readonly string[] | undefined },
): HttpApp {
  const allowed = createHostCheck([
    ...defaultAllowedHosts(options.adminHost),
    ...(options.adminAllowedHosts ?? []),
  ]);
  return guardApp(
    app,
    (req) => allowed(req.getHeader('host')),
    (res, req) => {
      host.answeredError(kAnswers.hostNotAllowed.code);
      answerUnrouted(res, req, kAnswers.hostNotAllowed);
    },
  );
}
