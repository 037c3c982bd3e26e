/**
 * The `uws` engine: uWebSockets.js, native builds only. The package's entry falls back to a JavaScript
 * implementation when its native build does not load (on Node 22 that fallback crashes on the first request), so
 * the native file for this ABI, platform and architecture is required directly and the fallback never runs.
 */

import type * as UwsTypes from 'uWebSockets.js';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  type AppOptions,
  EngineUnavailableError,
  type HttpApp,
  type HttpEngine,
  type RouteHandler,
  runtime,
} from '../engine.ts';

type Uws = typeof UwsTypes & { LIBUS_LISTEN_EXCLUSIVE_PORT: number };

let loaded: Uws | EngineUnavailableError | undefined;

/** The native uWS module for this process, or why there is none (decided once per process). */
export function loadUws(): Uws | EngineUnavailableError {
  loaded ??= load();
  return loaded;
}

function load(): Uws | EngineUnavailableError {
  const found = runtime();
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('uWebSockets.js');
  } catch (err) {
    return new EngineUnavailableError('the uWebSockets.js package is not installed', found, err);
  }
  const file = join(
    dirname(entry),
    '..',
    'binaries',
    `uws_${found.platform}_${found.arch}_${found.abi}.node`,
  );
  if (!existsSync(file)) {
    return new EngineUnavailableError(
      `uWebSockets.js ships no native build for this Node ABI (looked for ${file})`,
      found,
    );
  }
  try {
    return require(file) as Uws;
  } catch (err) {
    // e.g. a build linked against a newer glibc than this system's, or for glibc on a musl system
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return new EngineUnavailableError(`its native build does not load: ${why}`, found, err);
  }
}

export function uwsEngine(uws: Uws): HttpEngine {
  return {
    name: 'uws',
    createApp: (options) => new UwsApp(uws, options),
  };
}

/**
 * A uWS app behind `HttpApp`. Handlers are registered on uWS as they are: uWS's own request and response objects
 * reach the routes, so nothing is added per request.
 */
class UwsApp implements HttpApp {
  readonly #uws: Uws;
  readonly #app: UwsTypes.TemplatedApp;
  #listenSocket: UwsTypes.us_listen_socket | undefined;

  constructor(uws: Uws, options: AppOptions) {
    this.#uws = uws;
    const { tls } = options;
    this.#app = tls
      ? uws.SSLApp({ key_file_name: tls.keyFile, cert_file_name: tls.certFile, passphrase: tls.passphrase })
      : uws.App();
  }

  get(pattern: string, handler: RouteHandler): this {
    this.#app.get(pattern, handler as never);
    return this;
  }

  put(pattern: string, handler: RouteHandler): this {
    this.#app.put(pattern, handler as never);
    return this;
  }

  post(pattern: string, handler: RouteHandler): this {
    this.#app.post(pattern, handler as never);
    return this;
  }

  del(pattern: string, handler: RouteHandler): this {
    this.#app.del(pattern, handler as never);
    return this;
  }

  any(pattern: string, handler: RouteHandler): this {
    this.#app.any(pattern, handler as never);
    return this;
  }

  /**
   * LIBUS_LISTEN_EXCLUSIVE_PORT: this uWS build sets SO_REUSEPORT on fixed ports by default, so a second process
   * would otherwise bind the same port and the kernel would split every slave's requests between the two.
   * Exclusive listening refuses a port another listener holds, yet still rebinds at once after a crash
   * (SO_REUSEADDR stays on, so TIME_WAIT does not block a restart).
   */
  listen(host: string, port: number, what: string): Promise<number> {
    type ListenWithOptions = (
      host: string,
      port: number,
      options: number,
      cb: (socket: UwsTypes.us_listen_socket | false) => void,
    ) => UwsTypes.TemplatedApp;
    return new Promise((resolve, reject) => {
      (this.#app.listen as unknown as ListenWithOptions)(
        host,
        port,
        this.#uws.LIBUS_LISTEN_EXCLUSIVE_PORT,
        (socket) => {
          if (socket === false) {
            reject(
              new Error(
                `${what} cannot listen on ${host}:${port}: the address is in use by another process, or not available on this host`,
              ),
            );
            return;
          }
          this.#listenSocket = socket;
          resolve(this.#uws.us_socket_local_port(socket));
        },
      );
    });
  }

  stopListening(): void {
    if (this.#listenSocket) this.#uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = undefined;
  }

  async close(): Promise<void> {
    this.stopListening();
    (this.#app as unknown as { close(): void }).close();
    // uWS finishes closing sockets on its next loop turn; after it the port is free for a new listener
    await new Promise((resolve) => setImmediate(resolve));
  }
}
