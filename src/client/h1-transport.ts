import { H1Client } from './h1-client.ts';
import type { Exchange, ExchangeRequest, HttpMethod, Transport, TransportOptions } from './transport.ts';

/**
 * The lean transport: one `H1Client` (one keep-alive socket, no pipelining), for the per-task request to peers
 * known to be fleetmaster's (measured in bench/fleet/). The request's header lines are built once per content
 * type and reused: the per-task cost is a map lookup and the client's one write.
 */
export class H1Transport implements Transport {
  readonly #client: H1Client;
  readonly #headers: Record<string, string>;
  /** Header lines per content type ('' = no body). */
  readonly #heads = new Map<string, string>();

  constructor(options: TransportOptions) {
    const url = new URL(options.origin);
    const https = url.protocol === 'https:';
    this.#client = new H1Client({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port) || (https ? 443 : 80),
      tls: https ? (options.tls ?? {}) : undefined,
      timeoutMs: options.timeoutMs,
      keepAliveMs: options.keepAliveMs,
      maxAnswerBytes: options.maxAnswerBytes,
    });
    this.#headers = options.headers;
  }

  /** Not async: one promise fewer per task (a synchronous throw lands in the caller's `try` all the same). */
  exchange(method: HttpMethod, path: string, request: ExchangeRequest): Promise<Exchange> {
    const { body, contentType = 'application/json', headers } = request;
    const key = body === undefined ? '' : contentType;
    let head = this.#heads.get(key);
    if (head === undefined) {
      head = headerLines(
        body === undefined ? this.#headers : { ...this.#headers, 'content-type': contentType },
      );
      this.#heads.set(key, head);
    }
    if (headers !== undefined) head += headerLines(headers);
    return this.#client.request(method, path, head, body, request.signal);
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  async destroy(): Promise<void> {
    this.#client.destroy();
  }
}

/** `name: value\r\n` lines; a value with a CR or LF (header injection) is refused, as undici refuses it. */
function headerLines(headers: Record<string, string>): string {
  let lines = '';
  for (const name in headers) {
    const value = headers[name]!;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value)) {
      throw new TypeError(`invalid request header ${JSON.stringify(name)}`);
    }
    lines += `${name}: ${value}\r\n`;
  }
  return lines;
}
