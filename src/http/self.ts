import uWS, { type TemplatedApp } from 'uWebSockets.js';
import { PeerClient, type PeerClientOptions } from '../client/peer-client.ts';
import type { TlsOptions } from '../options.ts';
import { formatOrigin, isWildcard } from './address.ts';

/** The uWS app of a master or a slave: `SSLApp` when given a key and certificate. */
export function createApp(tls: TlsOptions | undefined): TemplatedApp {
  return tls
    ? uWS.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile, passphrase: tls.passphrase })
    : uWS.App();
}

/** A server's client to its own management routes, created on first use (GET /ping with the self token). */
export class SelfClient {
  #client: PeerClient | undefined;

  /** True while the server at host:port answers its own ping. */
  async ping(
    host: string,
    port: number,
    https: boolean,
    token: string,
    errorFor: PeerClientOptions['errorFor'],
  ): Promise<boolean> {
    this.#client ??= new PeerClient({
      origin: formatOrigin(https ? 'https' : 'http', isWildcard(host) ? '127.0.0.1' : host, port),
      headers: { token },
      retries: 0,
      retryWaitingMs: 0,
      timeoutMs: 5000,
      errorFor,
      // its own certificate, whoever signed it
      tls: { rejectUnauthorized: false },
    });
    try {
      return (await this.#client.request('GET', '/ping')).envelope.success;
    } catch {
      return false;
    }
  }

  async destroy(): Promise<void> {
    await this.#client?.destroy();
  }
}
