// guardApp over the HTTP engine of this run (npm test runs the file once per engine): every way a route is
// added (get, put, post, del, any) asks the guard first, and a refused request never reaches its route.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { defaultEngine, type HttpApp } from '../src/http/engine.ts';
import { guardApp } from '../src/http/guarded-app.ts';
import { selectEngine } from '../src/http/select-engine.ts';
import { kAnswers } from '../src/master/answers.ts';
import { kSilentLogger } from '../src/options.ts';

const engine = selectEngine(defaultEngine(), kSilentLogger);

describe(`guardApp on the ${engine.name} engine`, () => {
  let app: HttpApp;
  let port: number;
  const reached: string[] = [];

  before(async () => {
    app = guardApp(
      engine.createApp({ malformed: kAnswers.malformed }),
      (req) => req.getHeader('x-let-in') === 'yes',
      (res) => void res.writeStatus('403 Forbidden').end('refused'),
    );
    const route = (name: string) => (res: Parameters<Parameters<HttpApp['get']>[1]>[0]) => {
      reached.push(name);
      res.writeStatus('200 OK').end(name);
    };
    app.get('/get', route('get')).put('/put', route('put')).post('/post', route('post'));
    app.del('/del', route('del')).any('/*', route('any'));
    port = await app.listen('127.0.0.1', 0, 'guard test');
  });
  after(() => app.close());

  const cases: [string, string, string][] = [
    ['GET', '/get', 'get'],
    ['PUT', '/put', 'put'],
    ['POST', '/post', 'post'],
    ['DELETE', '/del', 'del'],
    ['PATCH', '/elsewhere', 'any'],
  ];
  for (const [method, path, name] of cases) {
    test(`${method} ${path}: refused without the guard's consent, served with it`, async () => {
      reached.length = 0;
      const url = `http://127.0.0.1:${port}${path}`;
      const refused = await fetch(url, { method });
      assert.equal(refused.status, 403);
      assert.equal(await refused.text(), 'refused');
      assert.deepEqual(reached, [], 'the route never ran');
      const served = await fetch(url, { method, headers: { 'x-let-in': 'yes' } });
      assert.equal(served.status, 200);
      assert.equal(await served.text(), name);
      assert.deepEqual(reached, [name]);
    });
  }

  test('stopListening is the wrapped app’s own: a new connection is refused', async () => {
    app.stopListening();
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', resolve);
    });
    assert.equal(error?.code, 'ECONNREFUSED');
  });
});
