/**
 * The HTTP engine seam. Every front end (the master's, the slave's, the admin listener) is written against these
 * few interfaces, and one of two engines serves them:
 * - `uws`: uWebSockets.js, native builds only (src/http/engines/uws.ts). Its own request and response objects
 *   are handed to the routes as they are, so the seam costs nothing per request.
 * - `node`: `node:http` / `node:https` (src/http/engines/node.ts), always available.
 *
 * The interfaces are the subset of uWS's API the routes use, with uWS's rules: read every header before the
 * handler returns (the request object dies with it); attach `onAborted` to a response not answered at once and
 * never touch it after; copy `onData` chunks (their memory is reused).
 */
import type { Logger, TlsOptions } from '../options.ts';
import type { Answer } from '../protocol/envelope.ts';

export type EngineName = 'uws' | 'node';
export type EngineChoice = 'auto' | EngineName;
export const kEngineChoices: readonly EngineChoice[] = ['auto', 'uws', 'node'];

export interface HttpRequest {
  /** A header's value ('' when absent); the name is lower-case. */
  getHeader(lowerCaseName: string): string;
  /** The method, lower-case. */
  getMethod(): string;
  /** The path, without the query string. */
  getUrl(): string;
  /** The raw query string (after `?`), '' when there is none. */
  getQuery(): string;
  /** The value of the route's `:name` segment at `index`. */
  getParameter(index: number): string;
}

export interface HttpResponse {
  /** The status line's code and reason, e.g. `'404 Not Found'`; first, before any header. */
  writeStatus(status: string): HttpResponse;
  writeHeader(name: string, value: string): HttpResponse;
  /** Ends the answer with `body` (Content-Length framed); `closeConnection` closes the socket after it. */
  end(body?: string | Uint8Array, closeConnection?: boolean): HttpResponse;
  /** Ends the answer without a body (a HEAD answer). */
  endWithoutBody(): HttpResponse;
  /** Writes one part of a streamed answer (chunked); false when the socket pushed back (the part is kept). */
  write(chunk: string): boolean;
  /** Called once if the client goes away before the answer ended; the response must not be used after. */
  onAborted(handler: () => void): HttpResponse;
  /** The request body, chunk by chunk; the chunk's memory is valid only during the call. */
  onData(handler: (chunk: ArrayBuffer | Uint8Array, isLast: boolean) => void): HttpResponse;
  /** Stops reading the request's socket (its bytes wait in the kernel) until `resume()`. */
  pause(): void;
  resume(): void;
  /** Runs `writes` as one batch of socket writes (an answer written after an `await`). */
  cork(writes: () => void): HttpResponse;
  /** Closes the connection now, without an answer. */
  close(): HttpResponse;
}

export type RouteHandler = (res: HttpResponse, req: HttpRequest) => void;

/** One listener's routes. Patterns are exact paths, paths with `:name` segments, or `/*` (anything). */
export interface HttpApp {
  get(pattern: string, handler: RouteHandler): this;
  put(pattern: string, handler: RouteHandler): this;
  post(pattern: string, handler: RouteHandler): this;
  del(pattern: string, handler: RouteHandler): this;
  /** Any method (HEAD and OPTIONS reach only these). */
  any(pattern: string, handler: RouteHandler): this;
  /**
   * Listens on host:port, refusing a port another listener holds (no SO_REUSEPORT sharing) but rebinding at once
   * after a crash (SO_REUSEADDR). Resolves with the bound port; rejects naming `what`, host and port.
   */
  listen(host: string, port: number, what: string): Promise<number>;
  /** Stops accepting connections; open ones go on. */
  stopListening(): void;
  /** Closes every socket; resolves once the port is free again. */
  close(): Promise<void>;
}

export interface AppOptions {
  /** Serve over TLS. */
  tls?: TlsOptions | undefined;
  /**
   * The answer to bytes that are not an HTTP/1.1 request, where the engine can give one (`node`; uWS closes such
   * connections itself).
   */
  malformed: Answer;
}

export interface HttpEngine {
  readonly name: EngineName;
  createApp(options: AppOptions): HttpApp;
}

/** What the running Node offers a native build: its ABI, platform, architecture and C library. */
export interface Runtime {
  abi: string;
  platform: string;
  arch: string;
  /** `glibc 2.36`, `musl` (no glibc found) or the platform's own. */
  libc: string;
}

export function runtime(): Runtime {
  let libc: string = process.platform;
  if (process.platform === 'linux') {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
      ?.header;
    libc = header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'musl';
  }
  return { abi: process.versions.modules, platform: process.platform, arch: process.arch, libc };
}

/** No native uWebSockets.js build loads here (`engine: 'uws'` was asked for). */
export class EngineUnavailableError extends Error {
  readonly code = 'FLEETMASTER_ENGINE_UNAVAILABLE';
  readonly runtime: Runtime;
  /** Why, without the advice. */
  readonly reason: string;
  constructor(reason: string, found: Runtime, cause?: unknown) {
    super(
      `the uws engine cannot run here: ${reason} (Node ABI ${found.abi}, ${found.platform}-${found.arch}, ${found.libc}); use engine 'node' or 'auto'`,
      cause === undefined ? undefined : { cause },
    );
    this.name = 'EngineUnavailableError';
    this.runtime = found;
    this.reason = reason;
  }
}

export function checkEngine(value: unknown): EngineChoice {
  if (typeof value === 'string' && (kEngineChoices as readonly string[]).includes(value)) {
    return value as EngineChoice;
  }
  throw new TypeError(`options.engine must be one of ${kEngineChoices.join(', ')} (got ${String(value)})`);
}

/**
 * The engine when the option is not given: `FLEETMASTER_ENGINE` if set (so a whole process, or a test run, can
 * be switched), else `'auto'`.
 */
export function defaultEngine(): EngineChoice {
  const fromEnv = process.env.FLEETMASTER_ENGINE;
  if (fromEnv === undefined || fromEnv === '') return 'auto';
  if ((kEngineChoices as readonly string[]).includes(fromEnv)) return fromEnv as EngineChoice;
  throw new TypeError(`FLEETMASTER_ENGINE must be one of ${kEngineChoices.join(', ')} (got ${fromEnv})`);
}

export type { Logger };
