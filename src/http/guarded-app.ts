import type { HttpApp, HttpRequest, HttpResponse, RouteHandler } from './engine.ts';

/**
 * An `HttpApp` whose every route first asks `admit(req)`; a request it refuses gets `refuse(res, req)` instead of
 * the route. Written against the engine seam, so both engines get the same guard, and a route added later cannot
 * be added without it. The listener itself (listen, close) is the wrapped app's.
 */
export function guardApp(
  app: HttpApp,
  admit: (req: HttpRequest) => boolean,
  refuse: (res: HttpResponse, req: HttpRequest) => void,
): HttpApp {
  return new GuardedApp(app, admit, refuse);
}

class GuardedApp implements HttpApp {
  readonly #app: HttpApp;
  readonly #admit: (req: HttpRequest) => boolean;
  readonly #refuse: (res: HttpResponse, req: HttpRequest) => void;

  constructor(
    app: HttpApp,
    admit: (req: HttpRequest) => boolean,
    refuse: (res: HttpResponse, req: HttpRequest) => void,
  ) {
    this.#app = app;
    this.#admit = admit;
    this.#refuse = refuse;
  }

  get(pattern: string, handler: RouteHandler): this {
    this.#app.get(pattern, this.#guard(handler));
    return this;
  }

  put(pattern: string, handler: RouteHandler): this {
    this.#app.put(pattern, this.#guard(handler));
    return this;
  }

  post(pattern: string, handler: RouteHandler): this {
    this.#app.post(pattern, this.#guard(handler));
    return this;
  }

  del(pattern: string, handler: RouteHandler): this {
    this.#app.del(pattern, this.#guard(handler));
    return this;
  }

  any(pattern: string, handler: RouteHandler): this {
    this.#app.any(pattern, this.#guard(handler));
    return this;
  }

  listen(host: string, port: number, what: string): Promise<number> {
    return this.#app.listen(host, port, what);
  }

  stopListening(): void {
    this.#app.stopListening();
  }

  close(): Promise<void> {
    return this.#app.close();
  }

  #guard(handler: RouteHandler): RouteHandler {
    const admit = this.#admit;
    const refuse = this.#refuse;
    // synchronous, before the route reads anything: uWS's request object lives only during this call
    return (res, req) => (admit(req) ? handler(res, req) : refuse(res, req));
  }
}
