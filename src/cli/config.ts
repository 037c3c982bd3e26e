/**
 * The command line's configuration: one table of fields per command, from which come the flags, the environment
 * variables, the config-file keys, `--help` and the README's configuration reference. A field that is a library
 * option is that option's spec (src/master/options.ts, src/slave/options.ts: type, default, bounds, help), so the
 * command line never states a fact of its own about it; only the command's own fields are written here. Resolution
 * is pure: a config file (JSON), then the environment, then flags, each overriding the one before; every value is
 * checked against its field, and an error names the field and where its value came from.
 */
import { ConfigError } from '../errors.ts';
import { kRetriesOption } from '../master/fleet/submit-options.ts';
import { kMasterOptions } from '../master/options.ts';
import { kDeadlineOption } from '../master/task.ts';
import { fits, kindOf, type OptionSpec, type OptionTable } from '../options.ts';
import { kSlaveOptions } from '../slave/options.ts';
import { kDemoOptions } from './demo.ts';

export type FieldType = OptionSpec['type'];

/** An option spec under its config-file key (camelCase); the flag and the variable derive from the key. */
export interface Field extends Omit<OptionSpec, 'type' | 'check'> {
  readonly key: string;
  readonly type: FieldType;
}

export type CommandName = 'master' | 'slave' | 'demo';

/** Every option of a library table, as fields (in the table's order). */
function fieldsOf(table: OptionTable): Field[] {
  return Object.entries(table).map(([key, { check: _, ...spec }]) => ({ key, ...spec }));
}

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

const kDashboard: Field = {
  key: 'dashboard',
  type: 'boolean',
  help: 'serve the live dashboard (GET /dashboard on the admin listener, turned on at a free port if --admin-port is not given) and print its URL',
  default: false,
};

export const kFields: Readonly<Record<CommandName, readonly Field[]>> = Object.freeze({
  master: [
    ...fieldsOf(kMasterOptions),
    ...kTls,
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
    { ...kDeadlineOption, key: 'deadline', help: 'per-task deadline for --tasks (from its submit)' },
    {
      ...kRetriesOption,
      key: 'retries',
      help: 'further attempts of a --tasks task whose slave was lost, refused it or was unreachable',
    },
    {
      key: 'msgpack',
      type: 'boolean',
      help: 'send tasks as MessagePack to slaves that speak it',
      default: false,
    },
    kDashboard,
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
    ...fieldsOf(kSlaveOptions),
    ...kTls,
    kLogLevel,
  ],
  demo: [
    ...fieldsOf(kDemoOptions),
    { ...kMasterOptions.resultThreads, key: 'resultThreads', help: 'result pool threads' },
    {
      key: 'showMetrics',
      type: 'boolean',
      help: "print the master's fleetmaster_* metrics (GET /metrics) at the end",
      default: false,
    },
    {
      ...kDashboard,
      help: 'serve the live dashboard, print its URL and keep feeding tasks slowly after --tasks until Ctrl-C',
    },
    {
      ...kMasterOptions.adminPort,
      key: 'adminPort',
      help: "the master's admin listener (/status, /metrics, /dashboard); with --dashboard and none given: any free port",
    },
    { ...kLogLevel, default: 'warn' },
  ],
});

/** The value a field takes when none is given (undefined where the library decides, or there is none). */
export function defaultOf(command: CommandName, key: string): unknown {
  const value = kFields[command].find((f) => f.key === key)?.default;
  return typeof value === 'function' ? value() : value;
}

/** How `--help` and the reference show a field's default. */
export function shownDefault(field: Field): string | undefined {
  if (field.shown !== undefined) return field.shown;
  return field.default === undefined || typeof field.default === 'function'
    ? undefined
    : String(field.default);
}

/** What a field takes, for `--help` and the reference: its choices, or its bounds (`0.2–2147483`, `≥ 1`). */
export function allowedOf(field: Field): string {
  if (field.choices) return field.choices.join(', ');
  if (field.type !== 'number' && field.type !== 'integer') return '';
  const { min, max, above } = field;
  if (min === undefined) return max === undefined ? '' : `≤ ${max}`;
  if (max === undefined) return `${above ? '>' : '≥'} ${min}`;
  return above ? `> ${min}, ≤ ${max}` : `${min}–${max}`;
}

export const kEnvPrefix = 'FLEETMASTER_';

/** `heartbeatTolerance` → `--heartbeat-tolerance`. */
export function flagOf(field: Field): string {
  return `--${field.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** `heartbeatTolerance` → `FLEETMASTER_HEARTBEAT_TOLERANCE`. */
export function envOf(field: Field): string {
  return kEnvPrefix + field.key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
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
      if (!Number.isFinite(n) || !fits(field as OptionSpec, n))
        return bad(`expected ${kindOf(field as OptionSpec)}`);
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
    out.push(
      '| field (config file) | flag | environment | default | allowed | |',
      '|---|---|---|---|---|---|',
    );
    for (const field of kFields[command]) {
      const flag = field.type === 'boolean' ? flagOf(field) : `${flagOf(field)} <${field.arg ?? 'value'}>`;
      out.push(
        `| \`${field.key}\` | \`${flag}\` | \`${envOf(field)}\` | ${shownDefault(field) ?? '–'} | ${allowedOf(field) || '–'} | ${field.help} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
