// `npx tsx examples/fleet-client.ts nats://127.0.0.1:4222 jobs.jsonl`: submits one task per JSON line to the
// fleet shared through NATS (any master started with --nats runs them) and prints one JSON line per result, in
// completion order. Run it again with the same --client name to collect results of a run that was cut off.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { FleetClient } from '../src/index.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { client: { type: 'string' }, retries: { type: 'string', default: '0' } },
});
const [servers = 'nats://127.0.0.1:4222', file] = positionals;
if (file === undefined) {
  console.error('usage: examples/fleet-client.ts NATS_URL JOBS.jsonl [--client NAME] [--retries N]');
  process.exit(2);
}
const client = await FleetClient.connect({ servers, client: values.client });
async function* lines() {
  for await (const line of createInterface({ input: createReadStream(file!) }))
    if (line.trim()) yield JSON.parse(line);
}
let failed = 0;
for await (const handle of client.map(lines(), { retries: Number(values.retries) })) {
  const { status, outcome, error } = handle;
  if (status !== 'completed') failed++;
  console.log(
    JSON.stringify({
      id: handle.id,
      status,
      result: outcome?.result,
      master: outcome?.master,
      slave: outcome?.slave,
      error: error?.message,
    }),
  );
}
await client.close();
process.exitCode = failed > 0 ? 3 : 0;
