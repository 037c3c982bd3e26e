// The benchmark's submitter: FleetClient.map over an endless stream of tasks, `in-flight` outstanding; 'count'
// answers tasks completed so far.
import { parseArgs } from 'node:util';
import { FleetClient } from '../src/index.ts';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    fleet: { type: 'string', default: 'bench' },
    'in-flight': { type: 'string', default: '4000' },
  },
});
const client = await FleetClient.connect({ servers: values.nats!, fleet: values.fleet! });
let completed = 0;
let failed = 0;
let running = true;
function* forever() {
  for (let i = 0; running; i++) yield { i };
}
void (async () => {
  for await (const handle of client.map(forever(), { inFlight: Number(values['in-flight']) })) {
    if (handle.status === 'completed') completed++;
    else failed++;
  }
})();
process.on('message', (m: string) => {
  if (m === 'count') process.send?.({ count: completed, failed });
  else if (m === 'stop') {
    running = false;
    void client.close().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
