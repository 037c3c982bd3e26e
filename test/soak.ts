/**
 * A bounded soak: a fleet of slave processes doing real tasks while slaves are SIGKILLed and restarted,
 * requests are aborted mid-body and garbage is thrown at the master. At the end it checks the books:
 * every task created ended exactly once (completed, or failed with a reason), none is left waiting, the
 * master's registry holds only live slaves, and memory is flat.
 *
 *   npm run soak -- [--duration 60] [--slaves 6] [--kill-every 3] [--garbage-rate 50]
 *   (= node --expose-gc --import tsx test/soak.ts …; with --expose-gc the memory check uses the heap after GC)
 *
 * Loopback only; every loop is bounded by the duration.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseNodeArgs } from 'node:util';
import { Master, type SlaveConnection, TaskStatus } from '../src/index.ts';

export interface SoakOptions {
  duration: number;
  slaves: number;
  killEvery: number;
  garbageRate: number;
}

export function parseArgs(argv: string[]): SoakOptions {
  const { values } = parseNodeArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '60' },
      slaves: { type: 'string', default: '6' },
      'kill-every': { type: 'string', default: '3' },
      'garbage-rate': { type: 'string', default: '50' },
    },
  });
  return {
    duration: Number(values.duration),
    slaves: Number(values.slaves),
    killEvery: Number(values['kill-every']),
    garbageRate: Number(values['garbage-rate']),
  };
}

const kSlaveProcess = fileURLToPath(new URL('./fixtures/slave-process.ts', import.meta.url));

interface Member {
  name: string;
  child: ChildProcess;
  port: number;
  connection: SlaveConnection | undefined;
}

async function spawnSlave(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(kSlaveProcess, ['--work-ms=5', '--heartbeat-span=0.2'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: message.port };
}

/** One piece of garbage: a bad header, a bad body, or a request aborted halfway. */
function garbage(port: number, token: string): void {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const kind = Math.floor(Math.random() * 5);
  const head = (method: string, path: string, headers: string, length: number) =>
    `${method} ${path} HTTP/1.1\r\nHost: x\r\n${headers}Content-Length: ${length}\r\n\r\n`;
  const lines = [
    head('GET', '/slave/heartbeat', 'Channel: 2_33\r\nToken: x\r\n', 0),
    `${head('PUT', '/slave/task/complete', `Channel: 0\r\nToken: ${token}\r\n`, 9)}not json!`,
    head('PUT', '/slave/task/fail', `Channel: 0\r\nToken: ${token}\r\n`, 100000) + '{"task":', // aborted below
    `${head('POST', '/%00/../../etc', 'Channel: \u00ff\r\n', 3)}abc`,
    head(
      'PUT',
      '/slave/task/complete',
      `Channel: 0\r\nToken: ${token}\r\nContent-Type: application/msgpack\r\n`,
      2,
    ) + '\x81\xa4',
  ];
  socket.write(lines[kind]!);
  setTimeout(() => socket.destroy(), 20 + Math.random() * 100).unref();
}

export async function run(options: SoakOptions) {
  const master = await new Master({
    host: '127.0.0.1',
    port: 0,
    heartbeatTolerance: 1,
    heartbeatCheckSpan: 0.1,
    requestRetries: 1,
    requestRetryWaiting: 0.05,
    resultThreads: 1,
    logger: { warn: () => undefined },
  }).start();
  const members: Member[] = [];
  for (let i = 0; i < options.slaves; i++)
    members.push({ name: `s${i}`, ...(await spawnSlave()), connection: undefined });

  const books = {
    created: 0,
    completed: 0,
    failed: 0,
    startFailed: 0,
    failedWithoutReason: 0,
    doubleEnded: 0,
    wrongResult: 0,
    kills: 0,
    garbage: 0,
  };
  const unsettled = new Set<Promise<unknown>>();
  const deadline = Date.now() + options.duration * 1000;
  const rssStart = process.memoryUsage().rss;
  // memory is compared from the end of a warm-up (a fifth of the run) to the end, both after a full GC
  let heapWarm = 0;
  const warmTimer = setTimeout(
    () => {
      global.gc?.();
      heapWarm = process.memoryUsage().heapUsed;
    },
    (options.duration * 1000) / 5,
  );

  const connect = async (member: Member) => {
    const connection = master.newConnection(member.name, '127.0.0.1', member.port);
    await connection.connect();
    member.connection = connection;
  };
  await Promise.all(members.map(connect));

  const drive = async (member: Member) => {
    while (Date.now() < deadline) {
      const connection = member.connection;
      if (!connection?.isConnected) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const a = Math.floor(Math.random() * 1000);
      const task = connection.newTask({ a, b: 1 });
      books.created++;
      let ends = 0;
      task.onComplete((_, result: { sum?: number }) => {
        ends++;
        if (result?.sum !== a + 1) books.wrongResult++;
      });
      task.onFail(() => {
        ends++;
      });
      const settled = task
        .start()
        .catch(() => undefined)
        .then(() => task.join());
      unsettled.add(settled);
      await settled;
      unsettled.delete(settled);
      if (task.status === TaskStatus.COMPLETED) books.completed++;
      else if (task.status === TaskStatus.FAILED) {
        books.failed++;
        if (task.result === undefined && task.error === undefined) books.failedWithoutReason++;
      } else if (task.status === TaskStatus.START_FAILED) books.startFailed++;
      if (task.status !== TaskStatus.START_FAILED && ends !== 1) books.doubleEnded++;
    }
  };

  const chaos = async () => {
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, options.killEvery * 1000 * (0.5 + Math.random())));
      if (Date.now() >= deadline) break;
      const member = members[Math.floor(Math.random() * members.length)]!;
      member.child.kill('SIGKILL');
      books.kills++;
      await once(member.child, 'exit');
      Object.assign(member, await spawnSlave());
      // the master notices the silence, fails the running task, and the name can be reused
      while (master.has(member.name) && Date.now() < deadline + 5000)
        await new Promise((r) => setTimeout(r, 20));
      await connect(member).catch(() => undefined);
    }
  };

  const noise = async () => {
    const token = members[0]?.connection?.token ?? 'x';
    while (Date.now() < deadline) {
      for (let i = 0; i < options.garbageRate / 10; i++)
        garbage(master.port, Math.random() < 0.5 ? token : 'bad');
      books.garbage += options.garbageRate / 10;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const progress = setInterval(() => {
    console.error(
      `[soak] created ${books.created}, completed ${books.completed}, failed ${books.failed}, ` +
        `kills ${books.kills}, garbage ${books.garbage}, slaves listed ${master.names().length}`,
    );
  }, 5000);
  await Promise.all([...members.map(drive), chaos(), noise()]);
  clearInterval(progress);
  // every task must settle on its own: bounded wait, then the books are checked
  const hung = await Promise.race([
    Promise.all([...unsettled]).then(() => 0),
    new Promise<number>((r) => setTimeout(() => r(unsettled.size), 15_000)),
  ]);
  clearTimeout(warmTimer);
  global.gc?.();
  const rssEnd = process.memoryUsage().rss;
  const heapEnd = process.memoryUsage().heapUsed;
  const stats = master.stats();
  await master.close();
  for (const member of members) member.child.kill('SIGKILL');

  const ended = books.completed + books.failed + books.startFailed;
  const report = {
    ...books,
    ended,
    hung,
    lost: books.created - ended,
    masterStats: stats,
    rssStartMiB: Math.round(rssStart / 2 ** 20),
    rssEndMiB: Math.round(rssEnd / 2 ** 20),
    heapAfterWarmupMiB: +(heapWarm / 2 ** 20).toFixed(1),
    heapEndMiB: +(heapEnd / 2 ** 20).toFixed(1),
    gcExposed: typeof global.gc === 'function',
  };
  // flat: the heap after GC at the end is within 25% (+8 MiB of slack) of the heap after warm-up
  const flat = heapWarm === 0 || heapEnd <= heapWarm * 1.25 + 8 * 2 ** 20;
  const ok =
    report.lost === 0 &&
    hung === 0 &&
    books.doubleEnded === 0 &&
    books.failedWithoutReason === 0 &&
    books.wrongResult === 0 &&
    stats.runningTasks === 0 &&
    flat;
  return { ok, report: { ...report, memoryFlat: flat } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = parseArgs(process.argv.slice(2));
  const { ok, report } = await run(options);
  console.log(JSON.stringify(report, null, 2));
  console.log(
    ok
      ? 'BOOKS BALANCE: every task ended exactly once, with a reason when it failed'
      : 'BOOKS DO NOT BALANCE',
  );
  process.exit(ok ? 0 : 1);
}
