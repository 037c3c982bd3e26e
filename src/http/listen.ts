import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';

// Present in this uWS build (v20.30) but missing from its typings.
const kExclusivePort = (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number })
  .LIBUS_LISTEN_EXCLUSIVE_PORT;

/** Closes every socket of the app (listen sockets and open connections). */
export function closeApp(app: TemplatedApp): void {
  (app as unknown as { close(): void }).close();
}

export interface Listening {
  socket: us_listen_socket;
  port: number;
}

type ListenWithOptions = (
  host: string,
  port: number,
  options: number,
  cb: (socket: us_listen_socket | false) => void,
) => TemplatedApp;

/**
 * Listens with LIBUS_LISTEN_EXCLUSIVE_PORT. This uWS build sets SO_REUSEPORT on fixed ports by default, so a
 * second process would otherwise bind the same port and the kernel would split every slave's requests between
 * the two. Exclusive listening refuses a port another listener holds, yet still rebinds at once after a crash
 * (SO_REUSEADDR stays on, so TIME_WAIT does not block a restart).
 */
export function listenExclusive(
  app: TemplatedApp,
  host: string,
  port: number,
  what: string,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    (app.listen as unknown as ListenWithOptions)(host, port, kExclusivePort, (socket) => {
      if (socket === false) {
        reject(
          new Error(
            `${what} cannot listen on ${host}:${port}: the address is in use by another process, or not available on this host`,
          ),
        );
        return;
      }
      resolve({ socket, port: uWS.us_socket_local_port(socket) });
    });
  });
}

export function closeListening(listening: Listening | undefined): void {
  if (listening) uWS.us_listen_socket_close(listening.socket);
}
