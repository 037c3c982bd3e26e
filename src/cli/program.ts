import { readFileSync } from 'node:fs';
import { Command as Commander, CommanderError, Option } from 'commander';
import { ConfigError } from '../errors.ts';
import { type MasterOptions, resolveMasterOptions } from '../master/options.ts';
import type { TlsOptions } from '../options.ts';
import { resolveSlaveOptions, type SlaveOptions } from '../slave/options.ts';
import {
  allowedOf,
  type CommandName,
  defaultOf,
  envOf,
  type Field,
  flagOf,
  kEnvPrefix,
  kFields,
  parseTarget,
  type Resolved,
  resolveConfig,
  type SlaveTarget,
  shownDefault,
} from './config.ts';

export type Command =
  | {
      kind: 'master';
      options: MasterOptions;
      slaves: SlaveTarget[];
      tasks: string | undefined;
      deadline: number | undefined;
      retries: number;
      msgpack: boolean;
      /** Serve the dashboard and print its URL (the admin listener is on: `options.adminPort` is set). */
      dashboard: boolean;
      logLevel: string;
    }
  | { kind: 'slave'; options: SlaveOptions; module: string; logLevel: string }
  | {
      kind: 'demo';
      slaves: number;
      tasks: number;
      samples: number;
      resultThreads: number | undefined;
      showMetrics: boolean;
      /** Print the dashboard's URL and keep feeding tasks until a signal (`adminPort` is then set). */
      dashboard: boolean;
      /** The master's admin listener (serving the dashboard), 0 for any free port; undefined: off. */
      adminPort: number | undefined;
      logLevel: string;
    }
  /** `--help` or `--version` was printed. */
  | { kind: 'done' };

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const kExitCodes = `Exit codes:
  0    done: closed after SIGINT/SIGTERM, or every task of --tasks (and the demo) ran
  1    a runtime failure (port taken, module not loadable, a slave not connectable, …)
  2    bad usage or configuration (the message names the field and where its value came from)
  3    master --tasks: at least one task did not complete (each line of stdout says how it ended)
  4    master --tasks: at least one result could not be written as JSON (its line says so; wins over 3)
  130  a second SIGINT forced the exit (143 for SIGTERM)`;

const kPrecedence = `Configuration: a JSON config file (--config or ${kEnvPrefix}CONFIG; keys as in the table of the README),
then environment variables (${kEnvPrefix}…), then flags; each overrides the one before.`;

/**
 * Parses the command line (without `node` and the script) and resolves the configuration. Pure but for reading
 * the config file: throws ConfigError (exit 2) with a message naming the bad field.
 */
export function parseCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io,
  version = 'unknown',
): Command {
  let parsed: Command | undefined;
  const program = new Commander('fleetmaster')
    .description("A master (and slave) for fleets speaking DI-engine's interaction protocol.")
    .version(version, '-v, --version')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(see --help)')
    .addHelpText('after', `\n${kPrecedence}\n\n${kExitCodes}\n`);

  const command = (name: CommandName, description: string) => {
    const sub = program
      .command(name)
      .description(description)
      .option('--config <file>', `JSON config file (env ${kEnvPrefix}CONFIG)`)
      .configureOutput({ writeOut: io.out, writeErr: io.err })
      .exitOverride()
      .showHelpAfterError('(see --help)')
      .addHelpText('after', `\n${kPrecedence}\n\n${kExitCodes}\n`);
    for (const field of kFields[name]) for (const option of optionsOf(field)) sub.addOption(option);
    return sub;
  };

  command('master', 'Run a master: serve slaves, optionally connect some and run a file of tasks.').action(
    (flags: Record<string, unknown>) => {
      parsed = toMaster(resolve('master', flags, env));
    },
  );
  command('slave', 'Run a slave whose task code is the default export of --module.').action(
    (flags: Record<string, unknown>) => {
      parsed = toSlave(resolve('slave', flags, env));
    },
  );
  command(
    'demo',
    'A master, a local fleet and a real workload through the result pool, with live progress; exits when done.',
  ).action((flags: Record<string, unknown>) => {
    parsed = toDemo(resolve('demo', flags, env));
  });

  if (argv.length === 0) {
    // no command: the overview, on stdout (commander would treat it as an error)
    io.out(program.helpInformation());
    return { kind: 'done' };
  }
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help asked for (or shown because no command was given), or the version
      if (err.exitCode === 0 || err.code === 'commander.help') return { kind: 'done' };
      // commander printed its message already
      throw new ConfigError(err.message.replace(/^error: /, ''));
    }
    throw err;
  }
  if (parsed === undefined) throw new ConfigError('no command given (master, slave or demo; see --help)');
  return parsed;
}

function optionsOf(field: Field): Option[] {
  const shown = shownDefault(field);
  const allowed = allowedOf(field);
  const notes = [shown === undefined ? '' : `default ${shown}`, `env ${envOf(field)}`]
    .filter(Boolean)
    .join('; ');
  const help = `${field.help}${allowed ? ` (${allowed})` : ''} [${notes}]`;
  if (field.type === 'boolean') {
    return [new Option(flagOf(field), help), new Option(`--no-${flagOf(field).slice(2)}`).hideHelp()];
  }
  const option = new Option(`${flagOf(field)} <${field.arg ?? 'value'}>`, help);
  if (field.type === 'list') {
    option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  }
  return [option];
}

function resolve(
  command: CommandName,
  flags: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): Resolved {
  const configPath = (flags.config as string | undefined) ?? (env[`${kEnvPrefix}CONFIG`] || undefined);
  const { config: _, ...fieldFlags } = flags;
  return resolveConfig(command, {
    file: configPath === undefined ? undefined : { path: configPath, values: readConfigFile(configPath) },
    env,
    flags: fieldFlags,
  });
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `config file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Fields that belong to the command, not to the library's options; every other field is the option of the same
 * name, so a field added to the table reaches the library without more wiring.
 */
const kCommandOnly = new Set([
  'slave',
  'tasks',
  'deadline',
  'retries',
  'msgpack',
  'logLevel',
  'module',
  'dashboard',
  'nats',
  'natsFleet',
]);
const kTlsFields = new Set(['tlsKey', 'tlsCert', 'tlsPassphrase']);

/** Option paths whose field has another name. */
const kOptionField: Record<string, string> = {
  'tls.keyFile': 'tlsKey',
  'tls.certFile': 'tlsCert',
  'queue.servers': 'nats',
  'queue.fleet': 'natsFleet',
};

/** The library options among the resolved values (TLS files gathered into `tls`). */
function libraryOptions({ values, sources }: Resolved): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (!kCommandOnly.has(key) && !kTlsFields.has(key)) options[key] = value;
  }
  const tls = tlsOf(values, sources);
  if (tls) options.tls = tls;
  return options;
}

function toMaster(resolved: Resolved): Command {
  const { values: v, sources } = resolved;
  const options = libraryOptions(resolved) as MasterOptions;
  const dashboard = (v.dashboard as boolean | undefined) ?? false;
  // the dashboard lives on the admin listener: on at any free port unless one was given
  if (dashboard && options.adminPort === undefined) options.adminPort = 0;
  if (v.nats !== undefined) {
    options.queue = { servers: v.nats as string, fleet: v.natsFleet as string | undefined };
  } else if (v.natsFleet !== undefined) {
    throw new ConfigError(`natsFleet (from ${sources.natsFleet}): goes with nats (--nats)`);
  }
  validate(() => resolveMasterOptions(options), sources);
  return {
    kind: 'master',
    options,
    slaves: ((v.slave as string[] | undefined) ?? []).map((t) => parseTarget(t, sources.slave)),
    tasks: v.tasks as string | undefined,
    deadline: v.deadline as number | undefined,
    retries: (v.retries ?? defaultOf('master', 'retries')) as number,
    msgpack: (v.msgpack ?? defaultOf('master', 'msgpack')) as boolean,
    dashboard,
    logLevel: (v.logLevel ?? defaultOf('master', 'logLevel')) as string,
  };
}

function toSlave(resolved: Resolved): Command {
  const { values: v, sources } = resolved;
  if (v.module === undefined) {
    throw new ConfigError(`module: required (--module, ${kEnvPrefix}MODULE or the config file)`);
  }
  const options = libraryOptions(resolved) as SlaveOptions;
  validate(() => resolveSlaveOptions(options), sources);
  return {
    kind: 'slave',
    options,
    module: v.module as string,
    logLevel: (v.logLevel ?? defaultOf('slave', 'logLevel')) as string,
  };
}

function toDemo({ values: v }: Resolved): Command {
  return {
    kind: 'demo',
    slaves: (v.slaves ?? defaultOf('demo', 'slaves')) as number,
    tasks: (v.tasks ?? defaultOf('demo', 'tasks')) as number,
    samples: (v.samples ?? defaultOf('demo', 'samples')) as number,
    // the master's own default applies when not given
    resultThreads: v.resultThreads as number | undefined,
    showMetrics: (v.showMetrics ?? defaultOf('demo', 'showMetrics')) as boolean,
    dashboard: v.dashboard === true,
    adminPort: (v.adminPort as number | undefined) ?? (v.dashboard === true ? 0 : undefined),
    logLevel: (v.logLevel ?? defaultOf('demo', 'logLevel')) as string,
  };
}

function tlsOf(v: Record<string, unknown>, sources: Record<string, string>): TlsOptions | undefined {
  if (v.tlsKey === undefined && v.tlsCert === undefined) return undefined;
  if (v.tlsKey === undefined || v.tlsCert === undefined) {
    const given = v.tlsKey === undefined ? 'tlsCert' : 'tlsKey';
    throw new ConfigError(`${given} (from ${sources[given]}): tlsKey and tlsCert go together`);
  }
  return {
    keyFile: v.tlsKey as string,
    certFile: v.tlsCert as string,
    passphrase: v.tlsPassphrase as string | undefined,
  };
}

/** Runs the library's own checks; its message (`options.x must …`) is given the field's source. */
function validate(check: () => unknown, sources: Record<string, string>): void {
  try {
    check();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // `options.x must …`, or for one item of a list `options.x[2] must …`
    const match = /^options\.([\w.]+)(\[\d+\])?\s+(.*)$/s.exec(message);
    if (!match) throw new ConfigError(message);
    const [, path, item = '', rest] = match as unknown as [string, string, string | undefined, string];
    const key = kOptionField[path] ?? path;
    const source = sources[key];
    throw new ConfigError(`${key}${item}${source ? ` (from ${source})` : ''}: ${rest}`);
  }
}
