// A benchmark master in its own process: connects `slaves` virtual slaves (their ports come from the parent),
// then, over IPC: 'load' (in-memory only) keeps the fleet busy through master.map for ever; 'count' answers
// tasks completed so far; 'stop' closes. With --nats the master takes its tasks from JetStream instead.
import { parseArgs } from 'node:util';
import { Master } from '../src/index.ts';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    fleet: { type: 'string', default: 'bench' },
    ports: { type: 'string' },
    slaves: { type: 'string' },
    'in-flight': { type: 'string', default: '4000' },
  },
});
const master = await new Master({
  host: '127.0.0.1',
  port: 0,
  resultThreads: 0,
  heartbeatTolerance: 30,
  ...(values.nats ? { queue: { servers: values.nats, fleet: values.fleet!, ackWait: 30 } } : {}),
}).start();
const ports = values.ports!.split(',').map(Number);
const n = Number(values.slaves);
let next = 0;
await Promise.all(
  Array.from({ length: 64 }, async () => {
    for (let i = next++; i < n; i = next++) {
      await master.newConnection(`v${i}`, '127.0.0.1', ports[i % ports.length]!).connect();
    }
  }),
);
let completed = 0;
let loading = false;
async function load() {
  function* forever() {
    for (let i = 0; ; i++) yield { i };
  }
  for await (const task of master.map(forever(), { inFlight: Number(values['in-flight']) })) {
    if (task.status === 0x21) completed++;
    if (!loading) break;
  }
}
process.on('message', (m: string) => {
  if (m === 'load') {
    loading = true;
    void load();
  } else if (m === 'count') {
    const stats = master.stats();
    process.send?.({
      count: values.nats ? stats.tasksCompleted : completed,
      queue: master.status().queue?.stats,
    });
  } else if (m === 'stop') {
    loading = false;
    void master.destroy().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true, port: master.port });
