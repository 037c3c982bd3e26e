/**
 * The command line's configuration: one table of fields per command, from which come the flags, the environment
 * variables, the config-file keys, `--help` and the README's configuration reference. Resolution is pure: a
 * config file (JSON), then the environment, then flags, each overriding the one before; every value is checked
 * against its field's type, and an error names the field and where its value came from.
 */

export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'list';

export interface Field {
  /** The config-file key (camelCase); the flag and the variable derive from it. */
  readonly key: string;
  readonly type: FieldType;
  /** The value's name in `--help` (`--port <port>`). */
  readonly arg?: string;
  readonly help: string;
  /** Shown in `--help` and the reference; the library's own default applies when a field is not given. */
  readonly default?: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** A secret: never echoed back in an error message. */
  readonly secret?: boolean;
}

export type CommandName = 'master' | 'slave' | 'demo';

const kListen = (port: string): Field[] => [
  { key: 'host', type: 'string', arg: 'host', help: 'listen address', default: '0.0.0.0' },
  {
    key: 'engine',
    type: 'string',
    arg: 'engine',
    help: 'HTTP engine: uws (uWebSockets.js, where its native build loads), node (node:http), auto (uws, else node)',
    default: 'auto',
    choices: ['auto', 'uws', 'node'],
  },
  {
    key: 'port',
    type: 'integer',
    arg: 'port',
    help: 'listen port (0: any free port)',
    default: port,
    min: 0,
    max: 65535,
  },
  {
    key: 'channel',
    type: 'integer',
    arg: 'n',
    help: 'protocol channel; must match the other end',
    default: '0',
    min: 0,
  },
];

const kRequests = (peer: string): Field[] => [
  {
    key: 'requestRetries',
    type: 'integer',
    arg: 'n',
    help: `extra attempts of a request to ${peer} after a connection error`,
    default: '5',
    min: 0,
  },
  {
    key: 'requestRetryWaiting',
    type: 'number',
    arg: 'seconds',
    help: 'wait between those attempts',
    default: '1',
    min: 0,
  },
  {
    key: 'requestTimeout',
    type: 'number',
    arg: 'seconds',
    help: `wait for ${peer}'s answer`,
    default: '30',
    min: 0,
  },
  {
    key: 'maxBodySize',
    type: 'integer',
    arg: 'bytes',
    help: 'largest request body accepted (larger: 413, code 901)',
    default: '67108864',
    min: 1,
  },
];

const kTls: Field[] = [
  { key: 'tlsKey', type: 'string', arg: 'file', help: 'PEM private key: serve over TLS (with --tls-cert)' },
  { key: 'tlsCert', type: 'string', arg: 'file', help: 'PEM certificate: serve over TLS (with --tls-key)' },
  {
    key: 'tlsPassphrase',
    type: 'string',
    arg: 'passphrase',
    help: 'passphrase of the TLS key',
    secret: true,
  },
];

const kLogLevel: Field = {
  key: 'logLevel',
  type: 'string',
  arg: 'level',
  help: 'log level of the JSON logs on stderr',
  default: 'info',
  choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
};

const kFleetSecret: Field = {
  key: 'fleetSecret',
  type: 'string',
  arg: 'secret',
  help: 'shared secret both ends must prove (fleetmaster extension; off for DI-engine peers)',
  secret: true,
};

const kResultPool: Field[] = [
  {
    key: 'resultHandler',
    type: 'string',
    arg: 'module',
    help: 'ES module run on a pool thread for every result (its default export)',
  },
  {
    key: 'resultThreads',
    type: 'integer',
    arg: 'n',
    help: 'result pool threads (0: decode and handle inline on the main thread)',
    default: 'cores − 1',
    min: 0,
    max: 256,
  },
  {
    key: 'resultQueueLimit',
    type: 'integer',
    arg: 'n',
    help: 'results held before backpressure',
    default: '10000',
    min: 1,
  },
  {
    key: 'resultQueueBytes',
    type: 'integer',
    arg: 'bytes',
    help: 'result bytes held before backpressure',
    default: '268435456',
    min: 1,
  },
  {
    key: 'resultTimeLimit',
    type: 'number',
    arg: 'seconds',
    help: "one result's handler time; past it the thread is replaced and the task fails",
    default: '30',
    min: 0.01,
  },
  {
    key: 'resultBatch',
    type: 'integer',
    arg: 'n',
    help: 'most results handed to a thread at once',
    default: '64',
    min: 1,
    max: 10000,
  },
];

const kObservability: Field[] = [
  {
    key: 'metrics',
    type: 'boolean',
    help: 'serve Prometheus metrics at GET /metrics (behind the self token)',
    default: 'false',
  },
  {
    key: 'selfToken',
    type: 'string',
    arg: 'token',
    help: 'token of /ping, /shutdown, /status, /metrics (≥ 16 chars; default: random, never logged)',
    secret: true,
  },
  {
    key: 'adminPort',
    type: 'integer',
    arg: 'port',
    help: 'separate listener for /metrics and /status without a token',
    min: 0,
    max: 65535,
  },
  {
    key: 'adminHost',
    type: 'string',
    arg: 'host',
    help: 'address of the admin listener',
    default: '127.0.0.1',
  },
];

export const kFields: Readonly<Record<CommandName, readonly Field[]>> = Object.freeze({
  master: [
    ...kListen('7235'),
    {
      key: 'heartbeatTolerance',
      type: 'number',
      arg: 'seconds',
      help: 'silence before a slave is evicted',
      default: '17',
      min: 0.2,
    },
    {
      key: 'heartbeatCheckSpan',
      type: 'number',
      arg: 'seconds',
      help: 'time between two sweeps',
      default: '1',
      min: 0.1,
    },
    ...kRequests('a slave'),
    {
      key: 'taskClient',
      type: 'string',
      arg: 'client',
      help: 'client for POST /task/new to fleetmaster slaves (DI-engine slaves: always undici)',
      default: 'lean',
      choices: ['lean', 'undici'],
    },
    {
      key: 'myAddress',
      type: 'string',
      arg: 'url',
      help: 'address slaves report to, e.g. http://10.0.0.5:7235',
      default: 'derived',
    },
    ...kResultPool,
    {
      key: 'queueLimit',
      type: 'integer',
      arg: 'n',
      help: 'most submitted tasks waiting for a slave (beyond: QUEUE_FULL, HTTP 503)',
      default: '100000',
      min: 1,
      max: 100_000_000,
    },
    {
      key: 'fleetTaskRetention',
      type: 'number',
      arg: 'seconds',
      help: 'how long a task submitted over HTTP stays readable once settled',
      default: '600',
      min: 1,
    },
    {
      key: 'fleetTasksKept',
      type: 'integer',
      arg: 'n',
      help: 'most settled HTTP-submitted tasks kept readable',
      default: '10000',
      min: 1,
      max: 10_000_000,
    },
    ...kTls,
    kFleetSecret,
    ...kObservability,
    kLogLevel,
    {
      key: 'slave',
      type: 'list',
      arg: 'name=host:port',
      help: 'connect this slave at start (repeat the flag; comma-separated in the environment)',
    },
    {
      key: 'tasks',
      type: 'string',
      arg: 'file',
      help: 'JSON lines, one task per line, spread over the slaves; results go to stdout, then the master exits',
    },
    {
      key: 'deadline',
      type: 'number',
      arg: 'seconds',
      help: 'per-task deadline for --tasks (from its submit)',
      min: 0.001,
    },
    {
      key: 'retries',
      type: 'integer',
      arg: 'n',
      help: 'further attempts of a --tasks task whose slave was lost, refused it or was unreachable',
      default: '0',
      min: 0,
      max: 100,
    },
    {
      key: 'msgpack',
      type: 'boolean',
      help: 'send tasks as MessagePack to slaves that speak it',
      default: 'false',
    },
    {
      key: 'nats',
      type: 'string',
      arg: 'url',
      help: "share the fleet's work with other masters through NATS JetStream at this URL (nats://host:4222; comma-separated for a cluster)",
    },
    {
      key: 'natsFleet',
      type: 'string',
      arg: 'name',
      help: 'with --nats: the fleet name, so several fleets share one NATS (streams <name>_tasks, <name>_results)',
      default: 'fleetmaster',
    },
  ],
  slave: [
    {
      key: 'module',
      type: 'string',
      arg: 'file',
      help: 'ES module whose default export is processTask(data) (required)',
    },
    ...kListen('7236'),
    {
      key: 'heartbeatSpan',
      type: 'number',
      arg: 'seconds',
      help: 'time between heartbeats',
      default: '3',
      min: 0.2,
    },
    ...kRequests('the master'),
    {
      key: 'format',
      type: 'string',
      arg: 'format',
      help: 'result body format with masters that speak MessagePack',
      default: 'json',
      choices: ['json', 'msgpack'],
    },
    {
      key: 'concurrency',
      type: 'integer',
      arg: 'n',
      help: 'tasks run at once (announced to a fleetmaster master)',
      default: '1',
      min: 1,
      max: 1024,
    },
    ...kTls,
    kFleetSecret,
    kLogLevel,
  ],
  demo: [
    { key: 'slaves', type: 'integer', arg: 'n', help: 'in-process slaves', default: '8', min: 1, max: 1000 },
    {
      key: 'tasks',
      type: 'integer',
      arg: 'n',
      help: 'tasks in all (one deliberately bad)',
      default: '400',
      min: 1,
    },
    {
      key: 'samples',
      type: 'integer',
      arg: 'n',
      help: 'Monte-Carlo samples per task',
      default: '500000',
      min: 1,
    },
    {
      key: 'resultThreads',
      type: 'integer',
      arg: 'n',
      help: 'result pool threads',
      default: 'cores − 1',
      min: 1,
      max: 256,
    },
    {
      key: 'showMetrics',
      type: 'boolean',
      help: "print the master's fleetmaster_* metrics (GET /metrics) at the end",
      default: 'false',
    },
    { ...kLogLevel, default: 'warn' },
  ],
});

export const kEnvPrefix = 'FLEETMASTER_';

/** `heartbeatTolerance` → `--heartbeat-tolerance`. */
export function flagOf(field: Field): string {
  return `--${field.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** `heartbeatTolerance` → `FLEETMASTER_HEARTBEAT_TOLERANCE`. */
export function envOf(field: Field): string {
  return kEnvPrefix + field.key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** A configuration error: the CLI prints its message and exits with code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConfigSources {
  /** The parsed config file (a JSON object), and its path for messages. */
  file?: { path: string; values: unknown };
  env?: Readonly<Record<string, string | undefined>>;
  /** Flags as commander parsed them: strings (arrays for lists, booleans for switches), keyed by field key. */
  flags?: Readonly<Record<string, unknown>>;
}

export interface Resolved {
  values: Record<string, unknown>;
  /** Where each value came from: `config file x.json`, `FLEETMASTER_PORT` or `--port`. */
  sources: Record<string, string>;
}

/** Merges file < environment < flags for one command; each value checked against its field. */
export function resolveConfig(command: CommandName, sources: ConfigSources): Resolved {
  const fields = kFields[command];
  const values: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const set = (field: Field, raw: unknown, source: string) => {
    values[field.key] = checkValue(field, raw, source);
    from[field.key] = source;
  };
  if (sources.file) {
    const { path, values: fileValues } = sources.file;
    if (typeof fileValues !== 'object' || fileValues === null || Array.isArray(fileValues)) {
      throw new ConfigError(`config file ${path}: must hold a JSON object of fields`);
    }
    for (const [key, raw] of Object.entries(fileValues)) {
      const field = fields.find((f) => f.key === key);
      if (!field) {
        throw new ConfigError(
          `config file ${path}: unknown field ${JSON.stringify(key)} for ${command}${suggest(key, fields)}`,
        );
      }
      set(field, raw, `config file ${path}`);
    }
  }
  for (const field of fields) {
    const raw = sources.env?.[envOf(field)];
    if (raw !== undefined && raw !== '') set(field, raw, envOf(field));
  }
  for (const field of fields) {
    const raw = sources.flags?.[field.key];
    if (raw !== undefined) set(field, raw, flagOf(field));
  }
  return { values, sources: from };
}

/** Checks (and, from text, converts) one value. */
export function checkValue(field: Field, raw: unknown, source: string): unknown {
  const bad = (expected: string): never => {
    const shown = field.secret ? '(hidden)' : JSON.stringify(raw);
    throw new ConfigError(`${field.key}: ${expected} (got ${shown} from ${source})`);
  };
  switch (field.type) {
    case 'string': {
      if (typeof raw !== 'string' || raw === '') return bad('expected a non-empty string');
      if (field.choices && !field.choices.includes(raw))
        return bad(`expected one of ${field.choices.join(', ')}`);
      return raw;
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && /^(true|1|yes|on)$/i.test(raw)) return true;
      if (typeof raw === 'string' && /^(false|0|no|off)$/i.test(raw)) return false;
      return bad('expected true or false');
    }
    case 'list': {
      const items = typeof raw === 'string' ? raw.split(',') : raw;
      if (!Array.isArray(items) || items.some((i) => typeof i !== 'string'))
        return bad('expected a list of strings');
      return (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
    }
    case 'integer':
    case 'number': {
      const n =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && raw.trim() !== ''
            ? Number(raw)
            : Number.NaN;
      const integer = field.type === 'integer';
      const kind = integer ? 'an integer' : 'a number';
      const { min, max } = field;
      const range =
        min !== undefined && max !== undefined
          ? ` between ${min} and ${max}`
          : min !== undefined
            ? ` >= ${min}`
            : '';
      if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) return bad(`expected ${kind}${range}`);
      if ((min !== undefined && n < min) || (max !== undefined && n > max))
        return bad(`expected ${kind}${range}`);
      return n;
    }
  }
}

function suggest(key: string, fields: readonly Field[]): string {
  const lower = key.toLowerCase().replace(/[-_]/g, '');
  const near = fields.find((f) => {
    const k = f.key.toLowerCase();
    return k === lower || distance(k, lower) <= 2;
  });
  return near ? ` (did you mean ${JSON.stringify(near.key)}?)` : '';
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/** `NAME=HOST:PORT` (IPv6 hosts in brackets: `a=[::1]:7236`). */
export interface SlaveTarget {
  name: string;
  host: string;
  port: number;
}

export function parseTarget(text: string, source = '--slave'): SlaveTarget {
  const match = /^([^=]+)=(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!match || Number(match[3]) > 65535) {
    throw new ConfigError(`slave: expected NAME=HOST:PORT (got ${JSON.stringify(text)} from ${source})`);
  }
  const [, name, host, port] = match as unknown as [string, string, string, string];
  return { name, host: host.replace(/^\[|\]$/g, ''), port: Number(port) };
}

/** The reference of every command's fields, as markdown (README's "Configuration reference"). */
export function configReference(): string {
  const out: string[] = [];
  for (const command of Object.keys(kFields) as CommandName[]) {
    out.push(`#### \`fleetmaster ${command}\``, '');
    out.push('| field (config file) | flag | environment | default | |', '|---|---|---|---|---|');
    for (const field of kFields[command]) {
      const flag = field.type === 'boolean' ? flagOf(field) : `${flagOf(field)} <${field.arg ?? 'value'}>`;
      const choices = field.choices ? ` (${field.choices.join(', ')})` : '';
      out.push(
        `| \`${field.key}\` | \`${flag}\` | \`${envOf(field)}\` | ${field.default ?? '–'} | ${field.help}${choices} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
