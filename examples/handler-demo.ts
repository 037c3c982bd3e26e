// `npx tsx examples/handler-demo.ts`: the result handler contract, end to end.
import { Master, Slave } from '../src/index.ts';

const slave = await new Slave({
  host: '127.0.0.1',
  port: 0,
  processTask: (d) => ({ steps: d, reward: 1 }),
}).start();
const master = await new Master({
  host: '127.0.0.1',
  port: 0,
  resultHandler: new URL('./handlers/score.ts', import.meta.url), // a path or URL to an ES module
  resultThreads: 1,
}).start();
const connection = master.newConnection('s1', '127.0.0.1', slave.port);
await connection.connect();
const task = await connection.newTask([1, 2, 3]).start();
await task.join();
console.log(task.result); // { taskId, outcome: 'complete', slave: 's1', digest: '…', result: { steps: [1,2,3], reward: 1 } }
await master.close();
await slave.close();
