import { parseArgs as parseNodeArgs } from 'node:util';
import type { MasterOptions } from '../master/options.ts';
import type { SlaveOptions } from '../slave/options.ts';

export const kUsage = `fleetmaster — a master (and slave) for fleets speaking DI-engine's interaction protocol

Usage:
  fleetmaster master [options] [--slave NAME=HOST:PORT ...] [--tasks FILE]
  fleetmaster slave --module FILE [options]

Master options:
  --host HOST                 listen address (default 0.0.0.0)
  --port PORT                 listen port (default 7235; 0 = any free port)
  --channel N                 protocol channel (default 0)
  --heartbeat-tolerance S     seconds of silence before a slave is evicted (default 17)
  --heartbeat-check-span S    seconds between sweeps (default 1)
  --my-address URL            address slaves report to (default: derived)
  --result-handler FILE       ES module run on a pool thread for every result
  --result-threads N          result pool threads (0 = inline on the main thread)
  --fleet-secret SECRET       require the fleet secret (fleetmaster extension)
  --slave NAME=HOST:PORT      connect this slave at start (repeatable)
  --tasks FILE                JSON lines: each line is one task's data; results go to stdout as JSON lines,
                              then the master exits (without it the master serves until SIGTERM)
  --deadline S                per-task deadline in seconds
  --msgpack                   send tasks as MessagePack to slaves that speak it

Slave options:
  --module FILE               ES module whose default export is processTask(data)
  --host HOST                 listen address (default 0.0.0.0)
  --port PORT                 listen port (default 7236; 0 = any free port)
  --channel N                 protocol channel (default 0)
  --heartbeat-span S          seconds between heartbeats (default 3)
  --format json|msgpack       result body format with masters that speak MessagePack
  --fleet-secret SECRET       require the fleet secret (fleetmaster extension)

SIGTERM or SIGINT closes gracefully: running tasks end with a clear reason, results already received finish.
`;

export interface SlaveTarget {
  name: string;
  host: string;
  port: number;
}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | {
      kind: 'master';
      options: MasterOptions;
      slaves: SlaveTarget[];
      tasks: string | undefined;
      deadline: number | undefined;
      msgpack: boolean;
    }
  | { kind: 'slave'; options: SlaveOptions; module: string };

/** Parses the command line (without `node` and the script). Pure: throws an Error with a usable message. */
export function parseArgs(argv: string[]): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help')
    return { kind: 'help' };
  if (command === '--version' || command === '-v') return { kind: 'version' };
  if (command === 'master') return parseMaster(rest);
  if (command === 'slave') return parseSlave(rest);
  throw new Error(`unknown command ${JSON.stringify(command)} (expected master or slave; see --help)`);
}

const common = {
  host: { type: 'string' },
  port: { type: 'string' },
  channel: { type: 'string' },
  'fleet-secret': { type: 'string' },
} as const;

function parseMaster(argv: string[]): Command {
  const { values } = parseNodeArgs({
    args: argv,
    strict: true,
    options: {
      ...common,
      'heartbeat-tolerance': { type: 'string' },
      'heartbeat-check-span': { type: 'string' },
      'my-address': { type: 'string' },
      'result-handler': { type: 'string' },
      'result-threads': { type: 'string' },
      slave: { type: 'string', multiple: true },
      tasks: { type: 'string' },
      deadline: { type: 'string' },
      msgpack: { type: 'boolean' },
    },
  });
  const options: MasterOptions = {
    host: values.host,
    port: num('--port', values.port),
    channel: num('--channel', values.channel),
    heartbeatTolerance: num('--heartbeat-tolerance', values['heartbeat-tolerance']),
    heartbeatCheckSpan: num('--heartbeat-check-span', values['heartbeat-check-span']),
    myAddress: values['my-address'],
    resultHandler: values['result-handler'],
    resultThreads: num('--result-threads', values['result-threads']),
    fleetSecret: values['fleet-secret'],
  };
  return {
    kind: 'master',
    options,
    slaves: (values.slave ?? []).map(parseTarget),
    tasks: values.tasks,
    deadline: num('--deadline', values.deadline),
    msgpack: values.msgpack ?? false,
  };
}

function parseSlave(argv: string[]): Command {
  const { values } = parseNodeArgs({
    args: argv,
    strict: true,
    options: {
      ...common,
      module: { type: 'string' },
      'heartbeat-span': { type: 'string' },
      format: { type: 'string' },
    },
  });
  if (values.module === undefined)
    throw new Error('slave needs --module FILE (its default export is processTask)');
  const format = values.format;
  if (format !== undefined && format !== 'json' && format !== 'msgpack') {
    throw new Error(`--format must be json or msgpack (got ${format})`);
  }
  return {
    kind: 'slave',
    module: values.module,
    options: {
      host: values.host,
      port: num('--port', values.port),
      channel: num('--channel', values.channel),
      heartbeatSpan: num('--heartbeat-span', values['heartbeat-span']),
      format,
      fleetSecret: values['fleet-secret'],
    },
  };
}

function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n))
    throw new Error(`${flag} must be a number (got ${JSON.stringify(value)})`);
  return n;
}

/** `NAME=HOST:PORT` (IPv6 hosts in brackets: `a=[::1]:7236`). */
export function parseTarget(text: string): SlaveTarget {
  const match = /^([^=]+)=(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!match) throw new Error(`--slave must look like NAME=HOST:PORT (got ${JSON.stringify(text)})`);
  const [, name, host, port] = match as unknown as [string, string, string, string];
  return { name, host: host.replace(/^\[|\]$/g, ''), port: Number(port) };
}
