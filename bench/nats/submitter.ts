/**
 * The NATS benchmark's submitter, a child of its own (bench/harness/ipc-child.ts): a FleetClient whose `map`
 * submits an endless stream of tasks through JetStream, `inFlight` outstanding, from the moment it is ready.
 * `count` answers the tasks completed and failed so far (results received); `stop` closes the client.
 */
import { fileURLToPath } from 'node:url';
import { FleetClient } from '../../src/index.ts';
import { IpcChild } from '../harness/ipc-child.ts';

export interface SubmitterConfig {
  servers: string;
  fleet: string;
  inFlight: number;
}

export interface SubmitterCount {
  completed: number;
  failed: number;
}

/** The child's side. */
export async function setup(config: SubmitterConfig) {
  const client = await FleetClient.connect({ servers: config.servers, fleet: config.fleet });
  const count: SubmitterCount = { completed: 0, failed: 0 };
  let running = true;
  function* whileRunning() {
    for (let i = 0; running; i++) yield { i };
  }
  void (async () => {
    for await (const handle of client.map(whileRunning(), { inFlight: config.inFlight })) {
      if (handle.status === 'completed') count.completed++;
      else count.failed++;
    }
  })().catch((err: unknown) => {
    if (running) console.error('[submitter]', err);
  });
  return {
    value: { ready: true },
    handlers: { count: (): SubmitterCount => ({ ...count }) },
    close: async () => {
      running = false;
      await client.close();
    },
  };
}

/** Starts the submitter child. */
export function startSubmitter(config: SubmitterConfig): Promise<IpcChild<{ ready: boolean }>> {
  return IpcChild.start(fileURLToPath(import.meta.url), config, { label: 'submitter' });
}
