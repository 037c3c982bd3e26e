/**
 * A stand-in for an unmodified DI-engine slave (ding/interaction/slave/slave.py), written from its source with
 * node:http, to check fleetmaster's master against the wire a DI-engine peer really sends:
 * - every request body is JSON without a Content-Type; the heartbeat is a GET carrying `{}`;
 * - no Task-Id header, no Fleet-Extensions header: it speaks no extension;
 * - one task at a time; the result goes to PUT /slave/task/{complete,fail} as {"task": {"id"}, "result"}.
 */
import http from 'node:http';

export interface DiEngineSlave {
  port: number;
  /** Content types of the bodies the master sent it ('' when none). */
  receivedContentTypes: string[];
  /** Statuses of its result requests. */
  resultStatuses: number[];
  /** Task ids it was sent, in order. */
  receivedTaskIds: string[];
  /** `/task/new` refused because it was busy (400, code 601): a master must never cause one. */
  refusals: number;
  close(): Promise<void>;
}

export async function startDiEngineSlave(
  process: (data: unknown) => unknown,
  heartbeatSpanMs = 200,
): Promise<DiEngineSlave> {
  let master: { token: string; host: string; port: number } | undefined;
  let busy = false;
  let timer: NodeJS.Timeout | undefined;
  const receivedContentTypes: string[] = [];
  const resultStatuses: number[] = [];
  const receivedTaskIds: string[] = [];
  const counts = { refusals: 0 };
  const agent = new http.Agent({ keepAlive: true });

  const send = (method: string, path: string, body: unknown): Promise<number> =>
    new Promise((resolve, reject) => {
      if (!master) return reject(new Error('not connected'));
      const payload = JSON.stringify(body);
      const req = http.request(
        {
          host: master.host,
          port: master.port,
          method,
          path,
          agent,
          // exactly what python-requests sends for data=json.dumps(...): no Content-Type
          headers: { Channel: '0', Token: master.token, 'Content-Length': Buffer.byteLength(payload) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  const reply = (res: http.ServerResponse, status: number, code: number, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: code === 0, code, message, data: null }));
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receivedContentTypes.push(req.headers['content-type'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      const token = String(req.headers.token ?? '');
      if (req.method === 'POST' && req.url === '/connect') {
        if (master) return reply(res, 400, 501, 'This slave already connected.');
        const url = new URL(body.master.address);
        master = { token, host: url.hostname, port: Number(url.port) };
        reply(res, 200, 0, 'Connect success.');
        timer = setInterval(() => {
          send('GET', '/slave/heartbeat', {}).catch(() => undefined);
        }, heartbeatSpanMs);
        return;
      }
      if (!master || token !== master.token)
        return reply(res, 403, 302, 'Master not match with this endpoint.');
      if (req.method === 'DELETE' && req.url === '/disconnect') {
        master = undefined;
        clearInterval(timer);
        return reply(res, 200, 0, 'Disconnect success.');
      }
      if (req.method === 'POST' && req.url === '/task/new') {
        if (busy) {
          counts.refusals++;
          return reply(res, 400, 601, 'Already has a task.');
        }
        busy = true;
        reply(res, 200, 0, 'Task received!');
        const id = body.task.id as string;
        receivedTaskIds.push(id);
        setImmediate(async () => {
          let route = 'complete';
          let result: unknown;
          try {
            result = await process(body.data);
          } catch (err) {
            route = 'fail';
            result = { message: String(err) };
          }
          busy = false;
          const status = await send('PUT', `/slave/task/${route}`, {
            task: { id },
            result: result ?? {},
          }).catch(() => 0);
          resultStatuses.push(status);
        });
        return;
      }
      reply(res, 404, 0, 'not found');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    receivedContentTypes,
    resultStatuses,
    receivedTaskIds,
    get refusals() {
      return counts.refusals;
    },
    close: async () => {
      clearInterval(timer);
      agent.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
