// Several masters share one fleet's work through NATS JetStream: real nats-server, masters and slaves in child
// processes, a submitter process on FleetClient. Every task completes exactly once: with two masters, when one
// is SIGKILLed mid-run, when the nats-server restarts mid-run, and for a submitter that reconnects; and a bare
// NATS client speaking docs/queue-schema.md drives the fleet like a Python coordinator would.
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { FleetClient, FleetTaskFailedError, QueueUnreachableError } from '../src/index.ts';
import { connectNats } from '../src/nats/connect.ts';
import type { JetStreamQueueStats } from '../src/nats/jetstream-queue.ts';
import type { MasterListing } from '../src/nats/masters.ts';
import { resolveJetStreamOptions } from '../src/nats/options.ts';
import { encodeResult, fleetNames, kSchemaVersion, type ResultMessage } from '../src/nats/schema.ts';
import { deadConsumer, laneConsumer } from '../src/nats/setup.ts';
import { toLogger } from '../src/options.ts';
import {
  type ChildSlave,
  spawnSlave,
  startMaster as startLocalMaster,
  startSlave,
  waitFor,
} from './helpers/fleet.ts';
import { type NatsServer, startNatsServer } from './helpers/nats-server.ts';

const kMasterProcess = fileURLToPath(new URL('./fixtures/nats-master-process.ts', import.meta.url));
const kSubmitterProcess = fileURLToPath(new URL('./fixtures/nats-submitter-process.ts', import.meta.url));
/** Short, so a dead master's tasks come back within seconds. */
const kAckWait = 2;

interface ChildMaster {
  child: ChildProcess;
  port: number;
  id: string;
  slaves: ChildSlave[];
}

interface QueueStatus {
  id: string;
  stats: JetStreamQueueStats;
  masters: MasterListing[];
}

let server: NatsServer;
const children: ChildProcess[] = [];
let fleetSeq = 0;

before(async () => {
  server = await startNatsServer();
});
after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await server.destroy();
});

/** A master in its own process with `slaves` slave processes of its own, sharing `fleet` through NATS. */
async function startMaster(fleet: string, slaves = 3, workMs = 10): Promise<ChildMaster> {
  const own = await Promise.all(Array.from({ length: slaves }, () => spawnSlave({ 'work-ms': workMs })));
  for (const s of own) children.push(s.child);
  const child = fork(
    kMasterProcess,
    [
      `--nats=${server.url}`,
      `--fleet=${fleet}`,
      `--ack-wait=${kAckWait}`,
      `--slaves=${own.map((s) => s.port).join(',')}`,
    ],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  children.push(child);
  const [message] = (await once(child, 'message')) as [{ port: number; id: string }];
  return { child, port: message.port, id: message.id, slaves: own };
}

async function queueStatus(master: ChildMaster): Promise<QueueStatus> {
  master.child.send('status');
  for (;;) {
    const [message] = (await once(master.child, 'message')) as [{ status?: { queue: QueueStatus } }];
    if (message.status) return message.status.queue;
  }
}

interface SubmitterReport {
  yielded: number;
  statuses: Record<string, number>;
  masters: Record<string, number>;
  redelivered: number;
  distinct: number;
  twice: number;
  missing: number;
  stats: { submitted: number; settled: number; duplicates: number; malformed: number; pending: number };
}

/** The submitter process: resolves with its report; `onProgress` hears every 50 results. */
function runSubmitter(
  fleet: string,
  tasks: number,
  onProgress: (done: number) => void = () => undefined,
): Promise<SubmitterReport> {
  const child = fork(
    kSubmitterProcess,
    [`--nats=${server.url}`, `--fleet=${fleet}`, `--client=submitter`, `--tasks=${tasks}`],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.on('message', (m: { progress?: number }) => {
    if (process.env.NATS_TEST_TRACE) console.error(`# ${new Date().toISOString()} progress ${m.progress}`);
    if (m.progress !== undefined) onProgress(m.progress);
  });
  return once(child, 'exit').then(([code]) => {
    assert.equal(code, 0, `submitter exited ${String(code)}`);
    return JSON.parse(out) as SubmitterReport;
  });
}

/** Results stored on the fleet's results stream, by task id (the server's own count, not the submitter's). */
async function storedResults(fleet: string): Promise<{ messages: number; subjects: number }> {
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(`${fleet}_results`, { subjects_filter: `${fleet}.results.>` });
    return { messages: info.state.messages, subjects: Object.keys(info.state.subjects ?? {}).length };
  } finally {
    await nc.close();
  }
}

function stopMaster(master: ChildMaster): Promise<void> {
  for (const s of master.slaves) s.child.kill('SIGKILL');
  if (master.child.exitCode !== null || master.child.signalCode !== null) return Promise.resolve();
  const exited = once(master.child, 'exit').then(() => undefined);
  master.child.disconnect();
  return exited;
}

function assertExactlyOnce(
  report: SubmitterReport,
  tasks: number,
  stored: { messages: number; subjects: number },
) {
  assert.equal(report.yielded, tasks, 'every task yielded');
  assert.deepEqual(report.statuses, { completed: tasks });
  assert.equal(report.distinct, tasks, 'every task completed');
  assert.equal(report.missing, 0);
  assert.equal(report.twice, 0, 'none delivered twice to the submitter');
  assert.deepEqual(stored, { messages: tasks, subjects: tasks }, 'one result per task on the results stream');
}

// a bound on each test, so a lost task fails it instead of hanging the suite (not a speed threshold)
describe('a fleet shared through NATS JetStream', { timeout: 120_000 }, () => {
  test('two masters with three slaves each and one submitter process: 500 tasks complete exactly once', async () => {
    const fleet = `f${++fleetSeq}`;
    const a = await startMaster(fleet);
    const b = await startMaster(fleet);
    try {
      const report = await runSubmitter(fleet, 500);
      assertExactlyOnce(report, 500, await storedResults(fleet));
      assert.deepEqual(Object.keys(report.masters).sort(), [a.id, b.id].sort(), 'both masters ran tasks');
      const status = await queueStatus(a);
      const listed = status.masters.map((m) => [m.id, m.live, m.slaves]);
      assert.deepEqual(
        listed.sort(),
        [
          [a.id, true, 3],
          [b.id, true, 3],
        ].sort(),
        'each master lists both, live, with their slaves',
      );
    } finally {
      await Promise.all([stopMaster(a), stopMaster(b)]);
    }
  });

  test('SIGKILL one master mid-run: every task still completes exactly once through the other', async () => {
    const fleet = `f${++fleetSeq}`;
    const a = await startMaster(fleet, 3, 20);
    const b = await startMaster(fleet, 3, 20);
    try {
      let killedAt = -1;
      const report = await runSubmitter(fleet, 500, (done) => {
        if (killedAt < 0 && done >= 100) {
          killedAt = done;
          a.child.kill('SIGKILL');
        }
      });
      assert.ok(killedAt > 0, 'the master was killed mid-run');
      const stored = await storedResults(fleet);
      assertExactlyOnce(report, 500, stored);
      const survivor = (await queueStatus(b)).stats;
      const books = {
        created: report.stats.submitted,
        completedOnce: report.distinct,
        redeliveredTasks: report.redelivered,
        survivorRedeliveries: survivor.redelivered,
        duplicatesSuppressedByMaster: survivor.duplicatesSuppressed,
        duplicateResultsDroppedByStream: survivor.resultsDuplicate,
        duplicatesDroppedBySubmitter: report.stats.duplicates,
      };
      console.log(`# failover books: ${JSON.stringify(books)}`);
      assert.ok(survivor.redelivered > 0, 'the dead master held tasks that came back');
      // each task that came back either ran again (its result says delivery > 1) or was found done already
      assert.equal(survivor.redelivered, report.redelivered + survivor.duplicatesSuppressed);
      const listed = await waitForMasters(b, (ms) => ms.find((m) => m.id === a.id)?.live === false);
      assert.equal(listed.find((m) => m.id === b.id)?.live, true);
    } finally {
      await Promise.all([stopMaster(a), stopMaster(b)]);
    }
  });

  test('the nats-server restarts mid-run (file storage): nothing lost, nothing twice', async () => {
    const fleet = `f${++fleetSeq}`;
    const a = await startMaster(fleet, 3, 20);
    const b = await startMaster(fleet, 3, 20);
    try {
      let restart: Promise<void> | undefined;
      const report = await runSubmitter(fleet, 300, (done) => {
        if (restart === undefined && done >= 100) {
          restart = (async () => {
            await server.stop();
            await new Promise((r) => setTimeout(r, 1000));
            await server.start();
          })();
        }
      });
      assert.ok(restart, 'the server was restarted mid-run');
      await restart;
      assertExactlyOnce(report, 300, await storedResults(fleet));
    } finally {
      await Promise.all([stopMaster(a), stopMaster(b)]);
    }
  });

  test('a submitter that disconnects and reconnects still gets its results', async () => {
    const fleet = `f${++fleetSeq}`;
    const first = await FleetClient.connect({ servers: server.url, fleet, client: 'comeback' });
    const ids = Array.from({ length: 50 }, (_, i) => `job-${i}`);
    for (const [i, id] of ids.entries()) first.submit({ a: i, b: 1 }, { id });
    await first.close(); // gone before any master runs them
    const a = await startMaster(fleet);
    try {
      await waitForStored(fleet, ids.length);
      const again = await FleetClient.connect({ servers: server.url, fleet, client: 'comeback' });
      try {
        const sums = await Promise.all(ids.map((id) => again.handle<{ sum: number }>(id).result()));
        assert.deepEqual(
          sums.map((r) => r.sum),
          ids.map((_, i) => i + 1),
        );
        // and one submitted after the reconnect arrives through the live consumer
        assert.deepEqual(await again.submit({ a: 40, b: 2 }, { id: 'late' }).result(), { sum: 42 });
        assert.equal(again.stats().duplicates, 0);
      } finally {
        await again.close();
      }
    } finally {
      await stopMaster(a);
    }
  });

  test('tags through NATS: a tagged task runs only on a master whose slaves carry its tags', async () => {
    const fleet = `f${++fleetSeq}`;
    const queue = { servers: server.url, fleet, ackWait: kAckWait, beat: 0.5 };
    const gpuSlave = await startSlave({ processTask: (d) => ({ on: 'gpu', a: (d as { a: number }).a }) });
    const cpuSlave = await startSlave({ processTask: (d) => ({ on: 'cpu', a: (d as { a: number }).a }) });
    const gpu = await startLocalMaster({ resultThreads: 0, queue });
    const cpu = await startLocalMaster({ resultThreads: 0, queue });
    const client = await FleetClient.connect({ servers: server.url, fleet });
    try {
      await gpu.newConnection('g', '127.0.0.1', gpuSlave.port, { tags: ['gpu'] }).connect();
      await cpu.newConnection('c', '127.0.0.1', cpuSlave.port).connect();
      const tagged = Array.from({ length: 10 }, (_, a) => client.submit({ a }, { tags: ['gpu'] }));
      const plain = Array.from({ length: 10 }, (_, a) => client.submit({ a }));
      const gpuId = gpu.status().queue!.id;
      for (const handle of await Promise.all(tagged.map((h) => h.settled()))) {
        assert.equal(handle.status, 'completed');
        assert.equal((handle.outcome!.result as { on: string }).on, 'gpu');
        assert.equal(handle.outcome!.master, gpuId);
      }
      for (const handle of await Promise.all(plain.map((h) => h.settled())))
        assert.equal(handle.status, 'completed');
      assert.equal(
        cpu.status().queue!.stats.pulled,
        cpu.stats().tasksCompleted,
        'the cpu master pulled no gpu task',
      );
    } finally {
      await client.close();
      await Promise.all([gpu.close(), cpu.close()]);
      await Promise.all([gpuSlave.close(), cpuSlave.close()]);
    }
  });

  test('a coordinator in any language: raw messages by docs/queue-schema.md, with the bare NATS client', async () => {
    const fleet = `f${++fleetSeq}`;
    const a = await startMaster(fleet);
    const nc = await connect({ servers: server.url });
    try {
      const js = jetstream(nc);
      const n = 20;
      for (let i = 0; i < n; i++) {
        const task = { v: 1, id: `py-${i}`, client: 'py', data: { a: i, b: 100 } };
        await js.publish(`${fleet}.tasks._`, JSON.stringify(task), { msgID: `py.py-${i}` });
      }
      // not a task: terminated, and a failed result names why
      await js.publish(`${fleet}.tasks._`, JSON.stringify({ v: 99, id: 'py-future', client: 'py', data: 1 }));
      const consumer = await js.consumers.get(`${fleet}_results`, {
        filter_subjects: `${fleet}.results.py.>`,
        deliver_policy: DeliverPolicy.All,
      });
      const messages = await consumer.consume();
      const seen = new Map<string, Record<string, unknown>>();
      for await (const m of messages) {
        const r = JSON.parse(m.string()) as Record<string, unknown>;
        if (!seen.has(r.id as string)) seen.set(r.id as string, r);
        if (seen.size === n + 1) break;
      }
      for (let i = 0; i < n; i++) {
        const r = seen.get(`py-${i}`)!;
        assert.equal(r.v, 1);
        assert.equal(r.status, 'completed');
        assert.deepEqual(r.result, { sum: i + 100 });
        assert.equal(r.error, null);
        assert.equal(r.master, a.id);
        assert.equal(typeof r.slave, 'string');
        assert.equal(r.attempts, 1);
        assert.equal(r.delivery, 1);
      }
      const bad = seen.get('py-future')!;
      assert.equal(bad.status, 'failed');
      assert.deepEqual((bad.error as { code: string }).code, 'INVALID_TASK');
      assert.match((bad.error as { message: string }).message, /schema version 99/);
    } finally {
      await nc.close();
      await stopMaster(a);
    }
  });
});

describe('a task JetStream gives up on', { timeout: 60_000 }, () => {
  test('every master holding it died: after maxDeliver deliveries its submitter gets MAX_DELIVERIES, once, from a master started later, and the task leaves the stream', async () => {
    const fleet = `f${++fleetSeq}`;
    const queue = { servers: server.url, fleet, maxDeliver: 2, ackWait: 0.5 };
    const client = await FleetClient.connect({ ...queue, client: 'poison' });
    const nc = await connect({ servers: server.url });
    let master: Awaited<ReturnType<typeof startLocalMaster>> | undefined;
    try {
      const handle = client.submit({ a: 1, b: 2 }, { id: 'poison-1' });
      // two "masters" that take the task and die holding it: pulled twice, never acknowledged, while no master
      // runs (the lane's consumer made as a master makes it, with maxDeliver 2 and a half-second ack wait)
      const link = await connectNats({
        servers: server.url,
        name: 't',
        timeoutMs: 5000,
        logger: toLogger(undefined),
      });
      try {
        const consumer = await laneConsumer(link, fleetNames(fleet), '_', resolveJetStreamOptions(queue));
        for (let delivery = 1; delivery <= 2; delivery++) {
          const msg = await consumer.next({ expires: 5000 });
          assert.equal(msg?.info.deliveryCount, delivery);
        }
        assert.equal(await consumer.next({ expires: 1500 }), null, 'JetStream delivers it no more');
      } finally {
        await link.nc.close();
      }
      const jsm = await jetstreamManager(nc);
      // JetStream's advisory waits on the dead stream for a master; the submitter still waits
      const deadMessages = async () => (await jsm.streams.info(`${fleet}_dead`)).state.messages;
      await until('the advisory on the dead stream', async () => (await deadMessages()) === 1);
      assert.equal(handle.status, 'pending');

      // beside it, what a broken or hostile publisher could put there: not JSON, and an advisory naming a task
      // that is not on the stream; neither stops the master nor fails anything
      const js = jetstream(nc);
      const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${fleet}_tasks.x`;
      await js.publish(subject, 'not an advisory');
      await js.publish(subject, JSON.stringify({ stream: `${fleet}_tasks`, stream_seq: 999, deliveries: 2 }));
      master = await startLocalMaster({ queue, metrics: true });
      await handle.settled();
      const error = handle.error as FleetTaskFailedError;
      assert.ok(error instanceof FleetTaskFailedError);
      assert.equal(error.reason, 'MAX_DELIVERIES');
      assert.match(error.message, /delivered 2 times \(the lane's maxDeliver\)/);
      assert.equal(error.outcome.delivery, 2);
      assert.equal(error.outcome.master, master.status().queue?.id);
      assert.equal(error.outcome.slave, null);
      await waitFor('deadLettered 1', () => master!.status().queue?.stats.deadLettered === 1);
      await until('the advisory acknowledged', async () => (await deadMessages()) === 0);
      assert.equal((await jsm.streams.info(`${fleet}_tasks`)).state.messages, 0, 'the task left the stream');
      assert.deepEqual(await storedResults(fleet), { messages: 1, subjects: 1 });
      assert.equal(client.stats().settled, 1);
      assert.equal(master.status().queue?.stats.deadLettered, 1, 'the advisory of no task failed nothing');
      const metrics = (await master.metrics())!;
      assert.match(metrics, /^fleetmaster_nats_messages_total\{event="dead_lettered"\} 1$/m);
      assert.match(
        metrics,
        /^fleetmaster_nats_messages_total\{event="pulled"\} 0$/m,
        'this master never ran it',
      );
      assert.match(metrics, /^fleetmaster_nats_tasks_held 0$/m);
      assert.match(metrics, /^fleetmaster_nats_masters\{live="true"\} 1$/m);
    } finally {
      await nc.close();
      await client.close();
      await master?.close();
    }
  });
});

describe('dead letters when the last holder was only stalled, or the dead stream cannot be made', {
  timeout: 60_000,
}, () => {
  test('a master stalled past its ack wait on the last delivery that then reports within the grace period: its result stands, nothing is failed, even when the advisory changed hands', async () => {
    const fleet = `f${++fleetSeq}`;
    // grace: two ack waits and a second (4 s) from when the dead stream stored the advisory
    const queue = { servers: server.url, fleet, maxDeliver: 1, ackWait: 1.5 };
    const names = fleetNames(fleet);
    const client = await FleetClient.connect({ ...queue, client: 'stall' });
    const nc = await connect({ servers: server.url });
    const link = await connectNats({
      servers: server.url,
      name: 't',
      timeoutMs: 5000,
      logger: toLogger(undefined),
    });
    let master: Awaited<ReturnType<typeof startLocalMaster>> | undefined;
    let slave: Awaited<ReturnType<typeof startSlave>> | undefined;
    try {
      const handle = client.submit({ a: 1 }, { id: 'stalled-1' });
      // the stalled master: takes the only delivery, then says nothing for longer than the ack wait; its next
      // pull is when nats-server 2.9 notices and advises
      const consumer = await laneConsumer(link, names, '_', resolveJetStreamOptions(queue));
      const held = await consumer.next({ expires: 5000 });
      assert.equal(held?.info.deliveryCount, 1);
      await new Promise((r) => setTimeout(r, 1600));
      assert.equal(await consumer.next({ expires: 1000 }), null);
      const jsm = await jetstreamManager(nc);
      await until(
        'the advisory stored',
        async () => (await jsm.streams.info(names.deadStream)).state.messages === 1,
      );
      // a master that takes the advisory and closes: gives it back at once, as a closing master does
      const closing = await (await deadConsumer(link, names)).next({ expires: 5000 });
      assert.equal(closing?.info.deliveryCount, 1);
      closing!.nak();
      // another master takes it (its second delivery) and must still wait out the grace period
      master = await startLocalMaster({ queue });
      slave = await startSlave({ processTask: () => ({ ranHere: true }) });
      await master.newConnection('s', '127.0.0.1', slave.port).connect();
      await until('the advisory taken by the master', async () => {
        const info = await jsm.consumers.info(names.deadStream, names.deadConsumer);
        return info.delivered.consumer_seq >= 2;
      });
      // long enough for a master that did not wait to have stored its failure, well inside the grace
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await storedResults(fleet), { messages: 0, subjects: 0 }, 'nothing failed yet');
      assert.equal(handle.status, 'pending');
      // the stalled master wakes up and stores its result, as a master does (same Nats-Msg-Id)
      const result: ResultMessage = {
        v: kSchemaVersion,
        id: 'stalled-1',
        client: 'stall',
        status: 'completed',
        result: { sum: 1 },
        error: null,
        master: 'stalled-master',
        slave: 's1',
        attempts: 1,
        delivery: 1,
      };
      await jetstream(nc).publish(names.resultSubject('stall', 'stalled-1'), encodeResult(result), {
        msgID: 'stall.stalled-1',
      });
      assert.deepEqual(await handle.result(), { sum: 1 });
      // after the grace period the master takes the advisory again, finds the result, and only cleans up
      await until(
        'the advisory acknowledged',
        async () => (await jsm.streams.info(names.deadStream)).state.messages === 0,
      );
      assert.equal((await jsm.streams.info(names.tasksStream)).state.messages, 0, 'the task left the stream');
      assert.equal(master.status().queue?.stats.deadLettered, 0);
      assert.deepEqual(await storedResults(fleet), { messages: 1, subjects: 1 });
      assert.equal(handle.status, 'completed');
    } finally {
      await slave?.close();
      await link.nc.close();
      await nc.close();
      await client.close();
      await master?.close();
    }
  });

  test('a server with little JetStream storage still makes the dead stream (it reserves no bytes)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fleetmaster-nats-conf-'));
    const config = path.join(dir, 'small.conf');
    writeFileSync(config, 'jetstream { max_file_store: 256MB }\n');
    const own = await startNatsServer(['-c', config]);
    const warned: string[] = [];
    const logger = { warn: (_fields: object, message: string) => void warned.push(message) };
    const fleet = `f${++fleetSeq}`;
    const client = await FleetClient.connect({ servers: own.url, fleet, logger });
    const nc = await connect({ servers: own.url });
    try {
      const jsm = await jetstreamManager(nc);
      const { config: dead } = await jsm.streams.info(`${fleet}_dead`);
      assert.equal(dead.max_msgs, 100_000);
      assert.equal(dead.max_msg_size, 4096);
      assert.deepEqual(warned, []);
    } finally {
      await nc.close();
      await client.close();
      await own.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('another stream already takes the advisories: master and client start without dead letters, and a master makes the dead stream once it can', async () => {
    // its own server: a stream on $JS.EVENT.ADVISORY.> would take every other test's advisories
    const own = await startNatsServer();
    const fleet = `f${++fleetSeq}`;
    const queue = { servers: own.url, fleet };
    const nc = await connect({ servers: own.url });
    const warned: string[] = [];
    const logger = { warn: (_fields: object, message: string) => void warned.push(message) };
    let client: FleetClient | undefined;
    let master: Awaited<ReturnType<typeof startLocalMaster>> | undefined;
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'audit', subjects: ['$JS.EVENT.ADVISORY.>'] });
      client = await FleetClient.connect({ ...queue, client: 'c', logger });
      master = await startLocalMaster({ queue, logger });
      const slave = await startSlave({ processTask: () => ({ ok: true }) });
      try {
        await master.newConnection('s', '127.0.0.1', slave.port).connect();
        const handle = client.submit({ a: 1 }, { id: 'still-runs' });
        await handle.settled();
        assert.equal(handle.status, 'completed', 'tasks still run without dead letters');
      } finally {
        await slave.close();
      }
      assert.ok(
        warned.some((m) => /dead stream could not be made/.test(m)),
        warned.join('\n'),
      );
      assert.ok(
        warned.some((m) => /dead letters: pulling advisories/.test(m)),
        warned.join('\n'),
      );
      const deadExists = async () =>
        jsm.streams.info(`${fleet}_dead`).then(
          () => true,
          () => false,
        );
      assert.equal(await deadExists(), false);
      // the overlapping stream goes: the master's retry makes the dead stream
      await jsm.streams.delete('audit');
      await until('the dead stream made', deadExists);
      // bounded: advisories are small, and a flood of them cannot grow the stream without limit
      const { config } = await jsm.streams.info(`${fleet}_dead`);
      assert.equal(config.max_msg_size, 4096);
      assert.equal(config.max_msgs, 100_000);
      // deleted under a running master: made again
      await jsm.streams.delete(`${fleet}_dead`);
      await until('the dead stream made again', deadExists);
    } finally {
      await nc.close();
      await client?.close();
      await master?.close();
      await own.destroy();
    }
  });
});

describe('a NATS that asks for a login', { timeout: 60_000 }, () => {
  test('the user and password (or token) of a server URL log in, raw or percent-encoded; a wrong one is refused without showing it', async () => {
    const password = 'p@ss#w0rd/x';
    const own = await startNatsServer(['--user', 'fleet', '--pass', password]);
    const token = await startNatsServer(['--auth', 's3cr3t-token']);
    const host = `127.0.0.1:${own.port}`;
    const fleet = `f${++fleetSeq}`;
    let master: Awaited<ReturnType<typeof startLocalMaster>> | undefined;
    const closers: (() => Promise<unknown>)[] = [];
    try {
      const raw = await FleetClient.connect({
        servers: `nats://fleet:${password}@${host}`,
        fleet,
        client: 'raw',
      });
      closers.push(() => raw.close());
      const encoded = `nats://fleet:${encodeURIComponent(password)}@${host}`;
      const client = await FleetClient.connect({ servers: encoded, fleet, client: 'enc' });
      closers.push(() => client.close());
      master = await startLocalMaster({ queue: { servers: encoded, fleet } });
      const slave = await startSlave({ processTask: () => ({ ok: true }) });
      closers.push(() => slave.close());
      await master.newConnection('s', '127.0.0.1', slave.port).connect();
      assert.deepEqual(await client.submit({ a: 1 }).result(), { ok: true });

      const viaToken = await FleetClient.connect({
        servers: `nats://s3cr3t-token@127.0.0.1:${token.port}`,
        fleet,
      });
      closers.push(() => viaToken.close());

      for (const wrong of [
        `nats://fleet:wr0ng-pw@${host}`,
        `nats://fleet:wr%23ng-pw@${host}`,
        `nats://${host}`,
      ]) {
        await assert.rejects(
          FleetClient.connect({ servers: wrong, fleet, connectTimeout: 2 }),
          (err: Error) => {
            assert.ok(err instanceof QueueUnreachableError, String(err));
            assert.match(err.message, /Authorization Violation/i);
            const everything = [
              err.message,
              String(err.stack),
              String((err.cause as Error)?.stack),
              inspect(err),
            ];
            for (const text of everything) assert.ok(!/wr0ng|wr%23ng|wr#ng/.test(text), text);
            return true;
          },
        );
      }
    } finally {
      for (const close of closers.reverse()) await close();
      await master?.close();
      await own.destroy();
      await token.destroy();
    }
  });
});

/** Polls an asynchronous check every 50 ms for up to 10 s. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForMasters(
  master: ChildMaster,
  check: (masters: MasterListing[]) => boolean,
): Promise<MasterListing[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { masters } = await queueStatus(master);
    if (check(masters)) return masters;
    if (Date.now() > deadline) throw new Error(`masters never as expected: ${JSON.stringify(masters)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitForStored(fleet: string, n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await storedResults(fleet)).messages < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} results stored`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
