/**
 * The cost of sharing a fleet through NATS JetStream, against the in-memory queue in the same run:
 *
 *   1. memory:      one master (a child process), N virtual slaves (this process), master.map keeps them busy
 *   2. nats:        the same master with --nats, the same slaves; a FleetClient process submits through JetStream
 *   3. nats × 2:    two masters with N/2 virtual slaves each, one FleetClient process
 *
 * Each phase: `warmup` seconds, then `duration` measured seconds. Reported: tasks/s, the ratio nats ÷ memory,
 * the CPU seconds of every process (nats-server's own included), and NATS messages and bytes per task from the
 * server's monitoring endpoint (/varz). Two cores cannot show scaling: the two-master row shows the cost per
 * task when both masters share the same cores.
 *
 *   npx tsx bench-pending/nats-fleet.ts [--slaves 1000] [--duration 10] [--warmup 3] [--in-flight 4000]
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VirtualFleet } from '../bench/fleet-slaves.ts';

const { values } = parseArgs({
  options: {
    slaves: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '4000' },
  },
});
const slaves = Number(values.slaves);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const inFlight = Number(values['in-flight']);
const here = path.dirname(fileURLToPath(import.meta.url));
const kTicks = 100; // USER_HZ on Linux

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / kTicks;
}

function child(
  file: string,
  args: string[],
): Promise<{ proc: ChildProcess; ready: Record<string, unknown> }> {
  const proc = fork(path.join(here, file), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return once(proc, 'message').then(([ready]) => ({ proc, ready: ready as Record<string, unknown> }));
}

async function ask(proc: ChildProcess): Promise<{ count: number; queue?: Record<string, number> }> {
  proc.send('count');
  const [m] = await once(proc, 'message');
  return m as { count: number; queue?: Record<string, number> };
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = once(proc, 'exit');
  proc.send('stop');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface Varz {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

async function startNats() {
  const port = await freePort();
  const http = await freePort();
  const store = mkdtempSync(path.join(tmpdir(), 'fleetmaster-bench-nats-'));
  const proc = spawn(
    'nats-server',
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(http), '-sd', store],
    {
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`http://127.0.0.1:${http}/varz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    await sleep(25);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: proc.pid!,
    varz: async () => (await (await fetch(`http://127.0.0.1:${http}/varz`)).json()) as Varz,
    stop: async () => {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
      rmSync(store, { recursive: true, force: true });
    },
  };
}

interface Row {
  phase: string;
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  cpu: Record<string, number>;
  natsMsgsPerTask?: number;
  natsBytesPerTask?: number;
  natsServerCpuUsPerTask?: number;
  /** CPU of every process of the phase (virtual slaves included), per task. */
  cpuUsPerTask: number;
}

async function phase(
  name: string,
  masters: number,
  nats: Awaited<ReturnType<typeof startNats>> | undefined,
  fleetName: string,
): Promise<Row> {
  const fleet = await VirtualFleet.start({
    ports: 4,
    heartbeatSpan: 1,
    heartbeatJitter: 0.1,
    resultBytes: 64,
    workUs: 0,
    sleepMs: 0,
    msgpack: false,
    sockets: slaves,
    beatPipelining: 1,
  });
  const ports = fleet.ports.join(',');
  const per = Math.floor(slaves / masters);
  const ms = await Promise.all(
    Array.from({ length: masters }, () =>
      child('master-child.ts', [
        `--ports=${ports}`,
        `--slaves=${per}`,
        `--in-flight=${inFlight}`,
        `--fleet=${fleetName}`,
        ...(nats ? [`--nats=${nats.url}`] : []),
      ]),
    ),
  );
  const submitter = nats
    ? await child('submitter-child.ts', [
        `--nats=${nats.url}`,
        `--fleet=${fleetName}`,
        `--in-flight=${inFlight}`,
      ])
    : undefined;
  if (!nats) for (const m of ms) m.proc.send('load');
  const count = async () =>
    submitter
      ? (await ask(submitter.proc)).count
      : (await Promise.all(ms.map((m) => ask(m.proc)))).reduce((a, b) => a + b.count, 0);
  await sleep(warmup * 1000);
  const pids: Record<string, number> = { slaves: process.pid };
  ms.forEach((m, i) => {
    pids[`master${i + 1}`] = m.proc.pid!;
  });
  if (submitter) pids.submitter = submitter.proc.pid!;
  if (nats) pids['nats-server'] = nats.pid;
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuOf(pid)]));
  const varz0 = await nats?.varz();
  const n0 = await count();
  const t0 = performance.now();
  await sleep(duration * 1000);
  const n1 = await count();
  const seconds = (performance.now() - t0) / 1000;
  const varz1 = await nats?.varz();
  const cpu = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, Math.round((cpuOf(pid) - cpu0[k]!) * 100) / 100]),
  );
  const tasks = n1 - n0;
  const allCpu = Object.values(cpu).reduce((a, b) => a + b, 0);
  const row: Row = {
    phase: name,
    tasks,
    seconds: Math.round(seconds * 100) / 100,
    tasksPerSecond: Math.round(tasks / seconds),
    cpu,
    cpuUsPerTask: tasks > 0 ? Math.round((allCpu / tasks) * 1e6) : 0,
  };
  if (varz0 && varz1 && tasks > 0) {
    row.natsMsgsPerTask =
      Math.round(((varz1.in_msgs - varz0.in_msgs + varz1.out_msgs - varz0.out_msgs) / tasks) * 10) / 10;
    row.natsBytesPerTask = Math.round(
      (varz1.in_bytes - varz0.in_bytes + varz1.out_bytes - varz0.out_bytes) / tasks,
    );
    row.natsServerCpuUsPerTask = Math.round((cpu['nats-server']! / tasks) * 1e6);
  }
  if (submitter) await stop(submitter.proc);
  await Promise.all(ms.map((m) => stop(m.proc)));
  await fleet.close();
  return row;
}

const rows: Row[] = [];
rows.push(await phase('memory, 1 master', 1, undefined, 'bench'));
console.log(JSON.stringify(rows.at(-1)));
const nats = await startNats();
try {
  rows.push(await phase('nats, 1 master', 1, nats, 'bench1'));
  console.log(JSON.stringify(rows.at(-1)));
  rows.push(await phase('nats, 2 masters', 2, nats, 'bench2'));
  console.log(JSON.stringify(rows.at(-1)));
} finally {
  await nats.stop();
}
const memory = rows[0]!.tasksPerSecond;
console.log(
  `\n${slaves} virtual slaves, ${duration} s measured after ${warmup} s, in-flight ${inFlight}, ${new Date().toISOString()}`,
);
console.log(
  '| phase | tasks/s | ÷ memory | CPU s in the window, by process | CPU µs/task, all processes | NATS msgs/task | NATS bytes/task | nats-server CPU µs/task |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const cpu = Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  console.log(
    `| ${r.phase} | ${r.tasksPerSecond} | ${(r.tasksPerSecond / memory).toFixed(3)} | ${cpu} | ${r.cpuUsPerTask} | ${r.natsMsgsPerTask ?? '–'} | ${r.natsBytesPerTask ?? '–'} | ${r.natsServerCpuUsPerTask ?? '–'} |`,
  );
}
