// Property-based fuzzing of both front ends with fast-check: random methods, paths, header values and bodies,
// sent as raw bytes on fresh sockets to a real master (with real connected slaves, so valid tokens exist) and to
// a real slave. Every answer that arrives must be a well-formed envelope whose code is in the end's table and
// whose HTTP status matches that code; where the answer is predictable from PROTOCOL.md (the header checks,
// the routes, the size cap, well-formed or broken bodies) it must be the predicted one. Between properties
// both ends must still serve, and at the end no promise was left rejected, no slave was evicted, nothing was
// left open, and the heap is back near its baseline.
//
// A fixed seed keeps CI reproducible; a longer run: FUZZ_RUNS=5000 node --import tsx --test test/fuzz.test.ts
// (FUZZ_SEED=<n> picks another seed). Bytes that HTTP forbids (control characters in a header value, unknown
// methods, more headers than uWS takes) are not the front end's to answer: uWS drops or holds such
// connections before any route runs. They are sent anyway, but recorded as findings instead of failing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import {
  DisconnectionRefuse,
  type Master,
  MasterErrorCode,
  type Slave,
  SlaveErrorCode,
  TaskStatus,
} from '../src/index.ts';
import { type Deferred, deferred } from './helpers/deferred.ts';
import { assertFailure, assertSuccess } from './helpers/envelope.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';
import {
  kBrokenAddresses,
  masterBodyArb,
  requestArb,
  syncRequestArb,
  type Tokens,
} from './helpers/fuzz-arbitraries.ts';
import {
  assertWellFormed,
  type Context,
  coverage,
  describeRequest,
  encode,
  expectMaster,
  type FuzzRequest,
  findings,
  type Header,
  kAnswerLimitMs,
  kMasterRoutes,
  kMaxBody,
  kStatusOf,
  probe,
  setEngine,
} from './helpers/fuzz-model.ts';
import { raw, rawExchange } from './helpers/raw-http.ts';

/** True when a route of the master takes this method and path. */
function routed(req: FuzzRequest): boolean {
  return kMasterRoutes[`${req.method} ${req.path.split('?')[0]}`] !== undefined;
}

const kRuns = Number(process.env.FUZZ_RUNS ?? 150);
const kSeed = Number(process.env.FUZZ_SEED ?? 42);
const kParams = { seed: kSeed, numRuns: kRuns };

describe('fuzzing the front ends', () => {
  let master: Master;
  let good: Slave;
  let target: Slave;
  let loner: Slave;
  let lonerCtx: Context;
  let lonerTokens: Tokens;
  let masterCtx: Context;
  let slaveCtx: Context;
  let masterTokens: Tokens;
  let slaveTokens: Tokens;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  const gc = exposeGc();
  let baseline = { heapUsed: 0, rss: 0 };

  before(async () => {
    process.on('unhandledRejection', onRejection);
    // fast heartbeats and a tight tolerance, so a front end too busy to answer them would show as an eviction
    master = await startMaster({
      maxBodySize: kMaxBody,
      heartbeatTolerance: 5,
      heartbeatCheckSpan: 0.2,
      resultThreads: 1,
    });
    setEngine(master.engine);
    good = await startSlave({ heartbeatSpan: 0.3, maxBodySize: kMaxBody, processTask: (d) => ({ echo: d }) });
    // the fuzzed slave refuses every disconnection, so its master token stays valid throughout
    target = await startSlave({
      heartbeatSpan: 0.3,
      maxBodySize: kMaxBody,
      processTask: () => ({ done: true }),
      hooks: {
        beforeDisconnection: () => {
          throw new DisconnectionRefuse();
        },
      },
    });
    // an unconnected slave, for /connect requests that do connect it (to nowhere, to a master that does not
    // know its token, to itself): it loses each such link at its first heartbeat and is connectable again
    loner = await startSlave({
      heartbeatSpan: 0.2,
      requestRetries: 0,
      requestTimeout: 1,
      maxBodySize: kMaxBody,
      processTask: () => ({ done: true }),
    });
    await master.newConnection('good', '127.0.0.1', good.port).connect();
    await master.newConnection('target', '127.0.0.1', target.port).connect();
    const goodToken = master.get('good').token;
    const targetToken = master.get('target').token;
    masterTokens = { valid: [goodToken, targetToken], self: master.selfToken };
    masterCtx = { side: 'master', validTokens: new Set(masterTokens.valid), selfToken: master.selfToken };
    slaveTokens = { valid: [targetToken, goodToken], self: target.selfToken };
    slaveCtx = { side: 'slave', validTokens: new Set([targetToken]), selfToken: target.selfToken };
    const addresses = [
      `http://127.0.0.1:${master.port}`,
      `http://127.0.0.1:${loner.port}`,
      `https://127.0.0.1:${master.port}`,
      ...kBrokenAddresses,
    ];
    // two fixed tokens, so a /task/new or /disconnect sometimes carries the token a fuzzed /connect installed
    lonerTokens = { valid: ['a'.repeat(64), 'b'.repeat(64)], self: loner.selfToken, addresses };
    lonerCtx = { side: 'slave', loose: true, validTokens: new Set(), selfToken: loner.selfToken };
    // warm up every path once (JIT, pool thread, msgpackr) before the heap baseline is taken
    for (const req of fc.sample(requestArb('master', masterTokens), { seed: kSeed + 1, numRuns: 60 })) {
      await probe(master.port, req, masterCtx);
    }
    for (const req of fc.sample(requestArb('slave', slaveTokens), { seed: kSeed + 1, numRuns: 60 })) {
      await probe(target.port, req, slaveCtx);
    }
    baseline = await settledMemory(gc);
  });

  after(async () => {
    process.off('unhandledRejection', onRejection);
    await master?.close();
    await good?.close();
    await target?.close();
    await loner?.close();
  });

  /** Both ends still serve: the master pings itself, a heartbeat with a valid token is answered, the slave pings. */
  async function assertServing(): Promise<void> {
    assert.equal(await master.ping(), true, 'the master answers its own ping');
    const beat = await raw(master.port, {
      method: 'GET',
      path: '/slave/heartbeat',
      headers: { Channel: '0', Token: masterTokens.valid[0]! },
    });
    assertSuccess(beat, 'Received!', 'a heartbeat with the valid token');
    assert.equal(await target.ping(), true, 'the fuzzed slave answers its own ping');
    assert.equal(await good.ping(), true, 'the good slave answers its own ping');
  }

  test("the model knows every code of both ends' tables", () => {
    // a code added to src/protocol/codes.ts needs its HTTP status here, or the fuzzing would call it foreign
    for (const [side, table] of [
      ['master', MasterErrorCode],
      ['slave', SlaveErrorCode],
    ] as const) {
      const defined = Object.values(table).sort((a, b) => a - b);
      assert.deepEqual(
        [...kStatusOf[side].keys()].sort((a, b) => a - b),
        defined,
        side,
      );
    }
  });

  test('master: every answer is a well-formed envelope, and the one PROTOCOL.md predicts', async () => {
    await fc.assert(
      fc.asyncProperty(requestArb('master', masterTokens), (req) => probe(master.port, req, masterCtx)),
      kParams,
    );
    await assertServing();
  });

  test('master: result bodies from a connected slave (valid headers): 200 ignored, 400/601 or 413/901', async () => {
    const headers = (contentType: string | undefined, taskId: string | undefined): Header[] => {
      const list: Header[] = [
        { name: 'Channel', value: '0' },
        { name: 'Token', value: masterTokens.valid[0]! },
      ];
      if (contentType !== undefined) list.push({ name: 'Content-Type', value: contentType });
      if (taskId !== undefined) list.push({ name: 'Task-Id', value: taskId });
      return list;
    };
    const arb = fc
      .record({
        outcome: fc.constantFrom('complete', 'fail'),
        body: masterBodyArb,
        contentType: fc.constantFrom(undefined, 'application/json', 'application/msgpack'),
        taskId: fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.uuid() },
        ),
        chunked: fc.boolean(),
      })
      .map(
        (r): FuzzRequest => ({
          method: 'PUT',
          path: `/slave/task/${r.outcome}`,
          headers: headers(r.contentType, r.taskId),
          body: r.body,
          chunked: r.body !== undefined && r.chunked,
        }),
      );
    const before = master.stats();
    await fc.assert(
      fc.asyncProperty(arb, (req) => probe(master.port, req, masterCtx)),
      kParams,
    );
    const after = master.stats();
    assert.equal(after.resultsDelivered, before.resultsDelivered, 'no fuzzed result reached a task');
    assert.equal(after.runningTasks, 0);
    await assertServing();
  });

  test('master: synchronous answers pipelined on one socket all come back, in order', async () => {
    const arb = fc.array(syncRequestArb(masterTokens), { minLength: 2, maxLength: 30 });
    await fc.assert(
      fc.asyncProperty(arb, async (requests) => {
        // an unrouted request with a body is answered with Connection: close (its body is not read); uWS still
        // answers what was already pipelined behind it, node closes at once, as the header says
        const closer = requests.findIndex((r) => r.body !== undefined && !routed(r));
        const expected = master.engine === 'node' && closer >= 0 ? requests.slice(0, closer + 1) : requests;
        const bytes = Buffer.concat(requests.map(encode));
        const answers = await rawExchange(master.port, bytes, expected.length, kAnswerLimitMs);
        assert.equal(answers.length, expected.length, 'one answer per request');
        requests = expected;
        requests.forEach((req, i) => {
          const label = `#${i}: ${describeRequest(req)}`;
          if (req.method === 'HEAD') {
            // headers only: the pipeline stays in step because no body follows them
            assert.equal(answers[i]!.body, '', label);
            return;
          }
          const envelope = assertWellFormed(answers[i]!, 'master', label);
          const expected = expectMaster(req, masterCtx);
          assert.ok(expected.codes.includes(envelope.code), `code ${envelope.code}; ${label}`);
        });
      }),
      { ...kParams, numRuns: Math.max(10, Math.floor(kRuns / 5)) },
    );
    await assertServing();
  });

  test('slave: every answer is a well-formed envelope, and the one PROTOCOL.md predicts', async () => {
    await fc.assert(
      fc.asyncProperty(requestArb('slave', slaveTokens), (req) => probe(target.port, req, slaveCtx)),
      kParams,
    );
    await assertServing();
  });

  test('unconnected slave: fuzzed /connect requests connect it anywhere; it keeps answering envelopes', async () => {
    await fc.assert(
      fc.asyncProperty(requestArb('slave', lonerTokens), (req) => probe(loner.port, req, lonerCtx)),
      kParams,
    );
    assert.equal(await loner.ping(), true, 'the unconnected slave answers its own ping');
    // every link a fuzzed /connect made fails its first heartbeat (nobody knows those tokens): the slave drops it
    await waitFor('the unconnected slave to drop its last fuzzed link', () => !loner.isConnected);
    await waitFor('the unconnected slave to finish its last task', () => !loner.hasTask);
    await waitFor('every reply of the unconnected slave to be answered', () => loner.replies.open === 0);
    await assertServing();
  });

  test('afterwards: nothing crashed, nothing rejected, no slave evicted, nothing left open', async () => {
    await assertServing();
    assert.deepEqual(rejections, [], 'no unhandled rejection');
    assert.equal(master.has('good'), true, 'the good slave is still connected');
    assert.equal(master.has('target'), true, 'the fuzzed slave is still connected');
    assert.equal(target.isConnected, true);
    assert.equal(master.stats().evictions, 0);
    // the last tasks the fuzz started on the slave report to the master (ignored there), then the slot frees
    await waitFor('the fuzzed slave to finish its last task', () => !target.hasTask);
    await waitFor('every reply to be answered or aborted', () => master.replies.open === 0);
    await waitFor('every slave reply to be answered or aborted', () => target.replies.open === 0);
    assert.equal(master.stats().runningTasks, 0);
    assert.equal(master.stats().slaves, 2);
    // and the fleet still works end to end
    const task = await master.get('good').newTask({ n: 7 }).start();
    await task.join();
    assert.equal(task.status, TaskStatus.COMPLETED);
    assert.deepEqual(task.result, { echo: { n: 7 } });
  });

  test('memory returns near its baseline', async (t) => {
    const now = await settledMemory(gc);
    const heapGrowth = now.heapUsed - baseline.heapUsed;
    const rssGrowth = now.rss - baseline.rss;
    t.diagnostic(
      `heapUsed ${mb(baseline.heapUsed)} -> ${mb(now.heapUsed)} MB; rss ${mb(baseline.rss)} -> ${mb(now.rss)} MB` +
        ` (gc ${gc ? 'exposed through v8.setFlagsFromString' : 'not available'})`,
    );
    // Loose bounds: the fuzzing keeps fast-check's shrink state and the findings, V8 and the pool thread keep
    // caches, and freed native memory does not always go back to the system. A per-request leak over the
    // thousands of requests sent (×10 with FUZZ_RUNS=1500) would still show.
    assert.ok(heapGrowth < 16 * 2 ** 20, `heapUsed grew by ${mb(heapGrowth)} MB`);
    assert.ok(rssGrowth < 128 * 2 ** 20, `rss grew by ${mb(rssGrowth)} MB`);
  });

  test('findings: what uWS did with bytes outside HTTP (recorded, not failed on)', (t) => {
    t.diagnostic(
      `answers seen (HTTP/code: count): ${[...coverage]
        .sort()
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ')}`,
    );
    for (const [what, { count, example }] of [...findings].sort()) {
      t.diagnostic(`${what}: ${count}× — e.g. ${example}`);
    }
  });
});

// ---------- helpers ----------

/** `global.gc` without --expose-gc on the command line (so package.json's test script runs this file as is). */
function exposeGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

async function settledMemory(gc: (() => void) | undefined): Promise<{ heapUsed: number; rss: number }> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

// ---------- findings the fuzzing led to, pinned as tests ----------

describe('findings pinned as tests', () => {
  let master: Master;
  let slave: Slave;
  let release: Deferred<void>;

  before(async () => {
    release = deferred();
    master = await startMaster({ maxBodySize: kMaxBody });
    slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0, processTask: () => release.promise });
    await master.newConnection('s', '127.0.0.1', slave.port).connect();
  });

  after(async () => {
    release.resolve();
    await master.close();
    await slave.close();
  });

  /** HEAD then GET on one keep-alive socket through node:http: what a conforming client makes of the answers. */
  async function headThenGet(port: number, token: string): Promise<string[]> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const one = (method: string) =>
      new Promise<string>((resolve) => {
        const req = http.request(
          { host: '127.0.0.1', port, method, path: '/ping', agent, headers: { token } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(`${method} ${res.statusCode}`));
          },
        );
        req.on('error', (err) => resolve(`${method} error: ${err.message}`));
        req.end();
      });
    try {
      return [await one('GET'), await one('HEAD'), await one('GET')];
    } finally {
      agent.destroy();
    }
  }

  test('HEAD is answered without a body, so a keep-alive client can read the next answer', async () => {
    for (const [what, port, token] of [
      ['master', master.port, master.selfToken],
      ['slave', slave.port, slave.selfToken],
    ] as const) {
      const outcomes = await headThenGet(port, token);
      assert.doesNotMatch(outcomes.join('; '), /error/, `${what}: ${outcomes.join('; ')}`);
    }
  });

  test('a Task-Id header that disagrees with the body does not lose the result of a running task', async () => {
    const connection = master.get('s');
    const task = await connection.newTask({ n: 1 }).start();
    const body = JSON.stringify({ task: { id: task.id }, result: { v: 1 } });
    const answer = await raw(master.port, {
      method: 'PUT',
      path: '/slave/task/complete',
      headers: { Channel: '0', Token: connection.token, 'Task-Id': randomUUID() },
      body,
    });
    // either refused as inconsistent (400, 601: the slave learns something is wrong) or delivered
    if (answer.status === 400) assertFailure(answer, 400, MasterErrorCode.TASK_DATA_INVALID);
    else {
      assertSuccess(answer, 'Result received!');
      assert.equal(task.status, TaskStatus.COMPLETED);
    }
  });

  test('a result body that is not JSON is refused (400, 601) even with a Task-Id header', async () => {
    const connection = master.get('s');
    const answer = await raw(master.port, {
      method: 'PUT',
      path: '/slave/task/fail',
      headers: { Channel: '0', Token: connection.token, 'Task-Id': randomUUID() },
      body: 'this is not JSON',
    });
    assertFailure(answer, 400, MasterErrorCode.TASK_DATA_INVALID);
  });
});
