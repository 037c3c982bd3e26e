/**
 * `npm start`: a master and a local fleet doing real work over real sockets.
 * Four slaves estimate π by Monte Carlo sampling; the master hands out 40 tasks, keeps every slave busy,
 * and prints each result as it arrives. One task asks for an impossible sample count, so you also see a
 * failure travel back (TaskFail), and the fleet keeps going.
 */
import { Master, Slave, TaskFail, TaskStatus } from '../src/index.ts';

const SLAVES = Number(process.env.SLAVES ?? 4);
const TASKS = Number(process.env.TASKS ?? 40);
const SAMPLES = 2_000_000;

interface Work {
  seed: number;
  samples: number;
}
interface Sampled {
  inside: number;
  samples: number;
  slave: string;
  ms: number;
}

/** A small deterministic PRNG (mulberry32), so every run gives the same estimate. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample(name: string, { seed, samples }: Work): Sampled {
  if (!Number.isInteger(samples) || samples <= 0)
    throw new TaskFail({ reason: `bad sample count ${samples}` });
  const started = performance.now();
  const random = rng(seed);
  let inside = 0;
  for (let i = 0; i < samples; i++) {
    const x = random();
    const y = random();
    if (x * x + y * y <= 1) inside++;
  }
  return { inside, samples, slave: name, ms: Math.round(performance.now() - started) };
}

const slaves = await Promise.all(
  Array.from({ length: SLAVES }, (_, i) => {
    const name = `slave-${i + 1}`;
    return new Slave({
      host: '127.0.0.1',
      port: 0,
      heartbeatSpan: 1,
      processTask: (data) => sample(name, data as Work),
    }).start();
  }),
);
const master = await new Master({ host: '127.0.0.1', port: 0, heartbeatTolerance: 5 }).start();
console.log(
  `master listening on 127.0.0.1:${master.port}; ${SLAVES} slaves on ports ${slaves.map((s) => s.port).join(', ')}`,
);

const connections = await Promise.all(
  slaves.map(async (slave, i) => {
    const connection = master.newConnection(`slave-${i + 1}`, '127.0.0.1', slave.port);
    await connection.connect();
    return connection;
  }),
);
console.log(`connected: ${master.names().join(', ')}`);

let inside = 0;
let samples = 0;
let done = 0;
let failed = 0;
const queue: Work[] = Array.from({ length: TASKS }, (_, i) => ({
  seed: i + 1,
  samples: i === 7 ? -1 : SAMPLES,
}));
const started = performance.now();

/** Each slave takes the next piece of work as soon as its previous task ends. */
async function drive(connection: (typeof connections)[number]): Promise<void> {
  for (let work = queue.shift(); work; work = queue.shift()) {
    const task = connection.newTask<Work, Sampled>(work);
    task.onComplete((_, r) => {
      inside += r.inside;
      samples += r.samples;
      done++;
      const estimate = (4 * inside) / samples;
      console.log(
        `[${String(done + failed).padStart(2)}/${TASKS}] ${r.slave} seed ${String(work.seed).padStart(2)}: ` +
          `${r.inside} of ${r.samples} inside (${r.ms} ms)  π ≈ ${estimate.toFixed(6)}`,
      );
    });
    task.onFail((_, r) => {
      failed++;
      console.log(
        `[${String(done + failed).padStart(2)}/${TASKS}] ${connection.name} seed ${work.seed}: FAILED ${JSON.stringify(r)}`,
      );
    });
    await task.start();
    await task.join();
    if (task.status !== TaskStatus.COMPLETED && task.status !== TaskStatus.FAILED) {
      console.log(`task ${task.id} ended with status ${task.status}`);
    }
  }
}

await Promise.all(connections.map(drive));
const seconds = (performance.now() - started) / 1000;
console.log(
  `\n${done} tasks completed, ${failed} failed, in ${seconds.toFixed(2)} s; ` +
    `π ≈ ${((4 * inside) / samples).toFixed(6)} from ${samples.toLocaleString('en')} samples (error ${Math.abs((4 * inside) / samples - Math.PI).toExponential(2)})`,
);
console.log('master stats:', master.stats());

for (const name of master.names()) await master.delete(name);
await master.close();
await Promise.all(slaves.map((s) => s.close()));
console.log('fleet shut down cleanly');
