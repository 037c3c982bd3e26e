import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { TlsOptions } from '../options.ts';
import { parseEnvelope } from '../protocol/envelope.ts';
import { isWildcard } from './address.ts';

/** The ping's answer is an envelope of a few dozen bytes; anything much larger is not our own server. */
const kMaxAnswerBytes = 64 * 1024;
const kTimeoutMs = 5000;

/**
 * A server's ping of its own management route (`GET /ping` with the self token). Over TLS the server's
 * certificate is verified, then pinned: the answer must come from a server presenting this server's own
 * certificate (its chain checked against the system's roots and the certificate file itself, so self-signed
 * certificates work), so the self token never goes to anyone else.
 */
export class SelfClient {
  #tls: { ca: string[]; fingerprint: string } | undefined;

  /** True while the server at host:port answers its own ping. */
  ping(host: string, port: number, tls: TlsOptions | undefined, token: string): Promise<boolean> {
    const hostname = isWildcard(host) ? '127.0.0.1' : host;
    const options: https.RequestOptions = {
      host: hostname,
      port,
      path: '/ping',
      method: 'GET',
      headers: { token },
      agent: false,
      timeout: kTimeoutMs,
    };
    if (tls) {
      const pinned = this.#pinned(tls);
      options.ca = pinned.ca;
      options.checkServerIdentity = (_host, cert) =>
        cert.fingerprint256 === pinned.fingerprint
          ? undefined
          : new Error('the server did not present this server’s own certificate');
    }
    return new Promise((resolve) => {
      const req = (tls ? https : http).request(options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > kMaxAnswerBytes) req.destroy();
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const envelope = parseEnvelope(Buffer.concat(chunks).toString('utf8'));
          resolve(res.statusCode === 200 && envelope?.success === true);
        });
        res.on('error', () => resolve(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  #pinned(tls: TlsOptions): { ca: string[]; fingerprint: string } {
    if (this.#tls === undefined) {
      const pem = readFileSync(tls.certFile, 'utf8');
      const own = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      this.#tls = { ca: [...rootCertificates, ...own], fingerprint: new X509Certificate(pem).fingerprint256 };
    }
    return this.#tls;
  }
}
