/**
 * Submit to the fleet, measured (issue 14's numbers; to be moved into the bench harness):
 *
 * - **ratio** (default): one real master (this process) and N virtual slaves (a child process,
 *   virtual-slaves.ts), every slave kept busy by N closed loops, in alternating rounds of the two paths in the
 *   same run: per connection (`connection.newTask(data).start()` → `join()` → next, the old `--tasks` way) and
 *   submit (`master.submit(data).join()` → next, through the queue, the slot index and the placement policy).
 *   Prints each round's tasks/s and the median of submit ÷ per-connection (target ≥ 0.9).
 * - **chaos** (`--chaos`): N virtual slaves, tasks of `--sleep-ms` with `retries: 3`, and every `--kill-every`
 *   seconds 1% of the slaves killed (they stop heartbeating, never report, refuse every request) and as many fresh
 *   ones connected; after `--chaos-seconds` the load stops and every task is waited for. Prints the books:
 *   created = completed + failed + cancelled, tasks lost (never settled), tasks delivered twice, retries,
 *   evictions, and late results acknowledged and ignored.
 *
 *   npx tsx bench-pending/fleet-submit.ts [--slaves 1000] [--rounds 3] [--duration 5]
 *   npx tsx bench-pending/fleet-submit.ts --chaos [--slaves 1000] [--chaos-seconds 40] [--kill-every 10] [--sleep-ms 100]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Master, type SlaveConnection, type Task, TaskStatus } from '../src/index.ts';

const { values } = parseArgs({
  options: {
    slaves: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    chaos: { type: 'boolean', default: false },
    'chaos-seconds': { type: 'string', default: '40' },
    'kill-every': { type: 'string', default: '10' },
    'sleep-ms': { type: 'string', default: '' },
    ports: { type: 'string', default: '4' },
  },
});
const kSlaves = Number(values.slaves);
const kChaos = values.chaos === true;
const kSleepMs = Number(values['sleep-ms'] || (kChaos ? 100 : 0));
const log = (line: string) => process.stderr.write(`${line}\n`);

async function startSlaves(): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = fork(
    fileURLToPath(new URL('./virtual-slaves.ts', import.meta.url)),
    [`--ports=${values.ports}`, '--heartbeat-span=1', `--sleep-ms=${kSleepMs}`],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const [message] = (await once(child, 'message')) as [{ ports: number[] }];
  return { child, ports: message.ports };
}

function ask<T>(child: ChildProcess, message: object, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (key in m) {
        child.off('message', on);
        resolve(m[key] as T);
      }
    };
    child.on('message', on);
    child.send(message);
  });
}

let names = 0;
async function connectSlaves(master: Master, ports: number[], count: number): Promise<SlaveConnection[]> {
  const connections: SlaveConnection[] = [];
  const batch = 64;
  for (let i = 0; i < count; i += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const n = names++;
        const connection = master.newConnection(`v${n}`, '127.0.0.1', ports[n % ports.length]!);
        await connection.connect();
        return connection;
      }),
    );
    connections.push(...made);
  }
  return connections;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function ratio(): Promise<void> {
  const master = await new Master({ host: '127.0.0.1', port: 0, heartbeatTolerance: 5 }).start();
  const { child, ports } = await startSlaves();
  try {
    const connections = await connectSlaves(master, ports, kSlaves);
    log(
      `ratio: ${connections.length} virtual slaves connected; ${values.rounds} rounds × 2 paths × ${values.duration} s`,
    );
    const durationMs = Number(values.duration) * 1000;
    const data = { a: 1, b: 2 };

    /** Runs `loops` closed loops of `one()` for the duration; tasks/s of those that completed inside it. */
    const measure = async (loops: number, one: (i: number) => Task): Promise<number> => {
      let stop = false;
      let done = 0;
      const started = performance.now();
      const all = Array.from({ length: loops }, async (_, i) => {
        while (!stop) {
          const task = one(i);
          await task.join();
          if (!stop && task.status === TaskStatus.COMPLETED) done++;
        }
      });
      await new Promise((r) => setTimeout(r, durationMs));
      stop = true;
      const elapsed = (performance.now() - started) / 1000;
      const counted = done;
      await Promise.all(all);
      return counted / elapsed;
    };
    const perConnection = () =>
      measure(connections.length, (i) => {
        const task = connections[i]!.newTask(data);
        task.start().catch(() => undefined);
        return task;
      });
    const submit = () => measure(connections.length, () => master.submit(data));

    // warm-up, not recorded
    await measure(connections.length, () => master.submit(data));
    const rows: { round: number; perConnection: number; submit: number; ratio: number }[] = [];
    for (let round = 1; round <= Number(values.rounds); round++) {
      // alternate which path goes first
      let a: number;
      let b: number;
      if (round % 2 === 1) {
        a = await perConnection();
        b = await submit();
      } else {
        b = await submit();
        a = await perConnection();
      }
      rows.push({ round, perConnection: a, submit: b, ratio: b / a });
      log(
        `round ${round}: per-connection ${a.toFixed(0)} tasks/s, submit ${b.toFixed(0)} tasks/s, ratio ${(b / a).toFixed(3)}`,
      );
    }
    const stats = await ask<Record<string, number>>(child, { stats: true }, 'stats');
    console.log(
      `\n### submit ÷ per-connection, ${connections.length} virtual slaves (node ${process.version}, ${os.availableParallelism()} × ${os.cpus()[0]?.model.trim()}, load ${os.loadavg()[0]!.toFixed(2)})\n`,
    );
    console.log('| round | per-connection tasks/s | submit tasks/s | submit ÷ per-connection |');
    console.log('|--:|--:|--:|--:|');
    for (const r of rows) {
      console.log(
        `| ${r.round} | ${r.perConnection.toFixed(0)} | ${r.submit.toFixed(0)} | ${r.ratio.toFixed(3)} |`,
      );
    }
    const m = median(rows.map((r) => r.ratio));
    console.log(
      `\nmedian ratio ${m.toFixed(3)} (target ≥ 0.9: ${m >= 0.9 ? 'met' : 'NOT met'}); slaves refused a task as busy: ${stats.refusedBusy}`,
    );
  } finally {
    await master.close();
    child.kill();
  }
}

async function chaos(): Promise<void> {
  const master = await new Master({
    host: '127.0.0.1',
    port: 0,
    heartbeatTolerance: 3,
    heartbeatCheckSpan: 0.5,
    // a killed slave refuses at once; do not wait seconds on it before the task tries another
    requestRetries: 1,
    requestRetryWaiting: 0.2,
    requestTimeout: 5,
  }).start();
  const { child, ports } = await startSlaves();
  try {
    const connections = await connectSlaves(master, ports, kSlaves);
    const seconds = Number(values['chaos-seconds']);
    const killEvery = Number(values['kill-every']);
    const kill = Math.max(1, Math.round(kSlaves / 100));
    log(
      `chaos: ${connections.length} virtual slaves, tasks of ${kSleepMs} ms with retries: 3; ${kill} killed and replaced every ${killEvery} s for ${seconds} s`,
    );
    const deliveries = new Map<Task, number>();
    const tasks: Task[] = [];
    let stop = false;
    const loops = Array.from({ length: kSlaves }, async () => {
      while (!stop) {
        const task = master.submit({ a: 1, b: 2 }, { retries: 3 });
        tasks.push(task);
        deliveries.set(task, 0);
        task.onComplete(() => deliveries.set(task, deliveries.get(task)! + 1));
        task.onFail(() => deliveries.set(task, deliveries.get(task)! + 1));
        await task.join();
      }
    });
    const started = performance.now();
    let killed = 0;
    while ((performance.now() - started) / 1000 < seconds) {
      await new Promise((r) => setTimeout(r, killEvery * 1000));
      await ask(child, { kill }, 'killed');
      killed += kill;
      await connectSlaves(master, ports, kill);
      const s = master.stats();
      log(
        `  t=${((performance.now() - started) / 1000).toFixed(0)} s: killed ${killed}, completed ${s.tasksCompleted}, retries ${s.taskRetries}, evictions ${s.evictions}, queued ${s.tasksQueued}`,
      );
    }
    stop = true;
    // every task still out settles: completed on a live slave, or failed after its retries
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 60_000))]);
    const s = master.stats();
    const settled = tasks.filter((t) => t.isEnded).length;
    const twice = [...deliveries.values()].filter((n) => n > 1).length;
    const byStatus = new Map<string, number>();
    for (const t of tasks) {
      const key =
        TaskStatus.COMPLETED === t.status
          ? 'completed'
          : t.isEnded
            ? `failed (${(t.error as { code?: string })?.code ?? 'reported'})`
            : 'not settled';
      byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    }
    const slaves = await ask<Record<string, number>>(child, { stats: true }, 'stats');
    console.log(
      `\n### chaos: ${kSlaves} virtual slaves, ${killed} killed and replaced (${kill} every ${killEvery} s), tasks of ${kSleepMs} ms with retries: 3, ${seconds} s\n`,
    );
    console.log(
      '| created | completed | failed | cancelled | lost (never settled) | delivered twice | retries | evictions | late results ignored |',
    );
    console.log('|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    console.log(
      `| ${s.tasksCreated} | ${s.tasksCompleted} | ${s.tasksFailed} | ${s.tasksCancelled} | ${tasks.length - settled} | ${twice} | ${s.taskRetries} | ${s.evictions} | ${s.resultsIgnored} |`,
    );
    console.log(
      `\nbooks: created ${s.tasksCreated} = completed ${s.tasksCompleted} + failed ${s.tasksFailed} + cancelled ${s.tasksCancelled}: ${s.tasksCreated === s.tasksCompleted + s.tasksFailed + s.tasksCancelled ? 'balanced' : 'NOT balanced'}`,
    );
    console.log(`by outcome: ${[...byStatus].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    console.log(
      `virtual slaves: tasks received ${slaves.tasks}, results answered 200 ${slaves.results}, refused as busy ${slaves.refusedBusy}, alive ${slaves.alive}`,
    );
  } finally {
    await master.close();
    child.kill();
  }
}

await (kChaos ? chaos() : ratio());
