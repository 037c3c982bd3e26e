/**
 * A stand-in for an unmodified DI-engine master (ding/interaction/master), written from its source with node:http,
 * to check fleetmaster's slave against the wire and the timing a DI-engine master really has:
 * - it lists a slave's token only once it has processed the `/connect` answer (`__connection_open` runs in
 *   `after_connect`), here `registerDelayMs` after the answer arrived; until then a heartbeat with that token is
 *   refused with 403, code 502, as DI-engine refuses an unknown slave token;
 * - request bodies are JSON without a Content-Type (python-requests' `data=json.dumps(...)`); it sends no
 *   Fleet-Extensions header, so it speaks no extension;
 * - results come back on PUT /slave/task/{complete,fail}.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';

export interface DiEngineMasterAnswer {
  status: number;
  code: number;
  message: string;
}

export interface DiEngineMaster {
  readonly address: string;
  /** Heartbeats answered 200 / refused (unknown token), over all connections. */
  readonly beats: { accepted: number; refused: number };
  /** Heartbeats accepted for one token. */
  acceptedBeatsOf(token: string): number;
  /**
   * POST /connect; on success the token is listed `registerDelayMs` later (a DI-engine master lists it after the
   * answer, never before), and only then does this resolve, as DI-engine's `connect()` returns. `'never'` leaves
   * it unlisted (a master that lost track of the slave at once).
   */
  connect(
    slavePort: number,
    registerDelayMs: number | 'never',
    headers?: Record<string, string>,
  ): Promise<{ token: string; answer: DiEngineMasterAnswer }>;
  /** POST /task/new; resolves with the answer and, when accepted, a promise of the route the result came on. */
  newTask(
    slavePort: number,
    token: string,
    data: unknown,
  ): Promise<{
    answer: DiEngineMasterAnswer;
    result: Promise<{ route: string; result: unknown }> | undefined;
  }>;
  /** Forgets a token without telling its slave (as DI-engine does when it evicts a silent slave). */
  forget(token: string): void;
  /** DELETE /disconnect; the token is forgotten whatever the answer. */
  disconnect(slavePort: number, token: string): Promise<DiEngineMasterAnswer>;
  close(): Promise<void>;
}

const kJson = { 'content-type': 'application/json' };

function envelope(res: http.ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, kJson);
  res.end(JSON.stringify({ success: code === 0, code, message, data: null }));
}

export async function startDiEngineMaster(): Promise<DiEngineMaster> {
  const known = new Map<string, number>(); // token → heartbeats accepted
  const waiting = new Map<string, (outcome: { route: string; result: unknown }) => void>();
  const beats = { accepted: 0, refused: 0 };
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.channel !== '0')
        return envelope(res, 403, 202, 'Channel not match with this endpoint.');
      const token = String(req.headers.token ?? '');
      if (token === '') return envelope(res, 400, 501, 'Slave token not found.');
      const accepted = known.get(token);
      if (accepted === undefined) {
        if (req.url === '/slave/heartbeat') beats.refused++;
        return envelope(res, 403, 502, 'No matching slave token found in this endpoint.');
      }
      if (req.method === 'GET' && req.url === '/slave/heartbeat') {
        beats.accepted++;
        known.set(token, accepted + 1);
        return envelope(res, 200, 0, 'Received!');
      }
      const route = /^\/slave\/task\/(complete|fail)$/.exec(req.url ?? '')?.[1];
      if (req.method === 'PUT' && route !== undefined) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          task: { id: string };
          result: unknown;
        };
        envelope(res, 200, 0, 'Result received!');
        waiting.get(body.task.id)?.({ route, result: body.result });
        waiting.delete(body.task.id);
        return;
      }
      envelope(res, 404, 0, 'not found');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const send = (
    port: number,
    method: string,
    path: string,
    token: string,
    body: unknown,
    extra: Record<string, string> = {},
  ) =>
    new Promise<DiEngineMasterAnswer>((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers: { Channel: '0', Token: token, 'Content-Length': Buffer.byteLength(payload), ...extra },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => {
            const answer = JSON.parse(Buffer.concat(parts).toString('utf8')) as DiEngineMasterAnswer;
            resolve({ status: res.statusCode ?? 0, code: answer.code, message: answer.message });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  return {
    address,
    beats,
    acceptedBeatsOf: (token) => known.get(token) ?? 0,
    async connect(slavePort, registerDelayMs, headers) {
      const token = randomBytes(32).toString('hex');
      const body = { master: { address }, data: {} };
      const answer = await send(slavePort, 'POST', '/connect', token, body, headers);
      if (answer.status === 200 && registerDelayMs !== 'never') {
        await new Promise((r) => setTimeout(r, registerDelayMs));
        known.set(token, 0);
      }
      return { token, answer };
    },
    async newTask(slavePort, token, data) {
      const id = randomUUID();
      const result = new Promise<{ route: string; result: unknown }>((resolve) => waiting.set(id, resolve));
      const answer = await send(slavePort, 'POST', '/task/new', token, { task: { id }, data });
      if (answer.status === 200) return { answer, result };
      waiting.delete(id);
      return { answer, result: undefined };
    },
    forget: (token) => known.delete(token),
    async disconnect(slavePort, token) {
      const answer = await send(slavePort, 'DELETE', '/disconnect', token, { data: {} });
      known.delete(token);
      return answer;
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
