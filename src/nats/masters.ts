import type { KV } from '@nats-io/kv';
import { errorFields, type Logger } from '../options.ts';
import type { NatsLink } from './connect.ts';
import { kSchemaVersion } from './schema.ts';

/** One master's record in the masters' bucket (key: its id). */
export interface MasterRecord {
  v: typeof kSchemaVersion;
  id: string;
  /** Where its slaves report (its `myAddress`, or host:port). */
  address: string;
  slaves: number;
  freeSlots: number;
  /** Tasks pulled from JetStream and held now. */
  held: number;
  /** Milliseconds since the epoch of its last refresh. */
  beat: number;
  startedAt: number;
}

/** A master as `/status` lists it. */
export interface MasterListing extends MasterRecord {
  /** Its last beat is within three beat intervals. */
  live: boolean;
  /** Seconds since its last beat. */
  age: number;
  self: boolean;
}

/** Records kept in memory at most (the bucket could be written by anyone). */
const kMaxRecords = 10_000;
/** A record larger than this is not a master's (ignored). */
const kMaxRecordBytes = 4096;

/**
 * The masters of one fleet know each other through a JetStream key-value bucket: each puts its record every
 * `beat` seconds, and watches the bucket to keep everyone's records in memory, so `/status` lists them without
 * a request. A master is live while its last beat is within three intervals; the bucket keeps a record
 * `10 × beat` seconds after its last put, and a master deletes its own when it closes.
 */
export class MasterDirectory {
  readonly #link: NatsLink;
  readonly #bucket: string;
  readonly #beatMs: number;
  readonly #logger: Logger;
  readonly #self: () => Omit<MasterRecord, 'v' | 'beat'>;
  readonly #records = new Map<string, MasterRecord>();
  #kv: KV | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watch: { stop(): void } | undefined;
  #id = '';

  constructor(
    link: NatsLink,
    bucket: string,
    beatSeconds: number,
    logger: Logger,
    self: () => Omit<MasterRecord, 'v' | 'beat'>,
  ) {
    this.#link = link;
    this.#bucket = bucket;
    this.#beatMs = beatSeconds * 1000;
    this.#logger = logger;
    this.#self = self;
  }

  async start(): Promise<void> {
    const kvm = new this.#link.kv.Kvm(this.#link.nc);
    this.#kv = await kvm.create(this.#bucket, { history: 1, ttl: this.#beatMs * 10 });
    this.#id = this.#self().id;
    await this.#beat();
    const watch = await this.#kv.watch();
    this.#watch = watch;
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') this.#records.delete(entry.key);
        else this.#read(entry.key, entry.value);
      }
    })().catch((err: unknown) => this.#logger.warn(errorFields(err), 'watching the masters bucket stopped'));
    this.#timer = setInterval(() => {
      this.#beat().catch((err: unknown) =>
        this.#logger.warn(errorFields(err), 'refreshing this master record failed'),
      );
    }, this.#beatMs);
    this.#timer.unref();
  }

  /** Every master known, this one included; sorted by id. */
  list(now = Date.now()): MasterListing[] {
    const out: MasterListing[] = [];
    for (const record of this.#records.values()) {
      out.push({
        ...record,
        live: now - record.beat <= 3 * this.#beatMs,
        age: Math.max(0, Math.round(now - record.beat) / 1000),
        self: record.id === this.#id,
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Stops beating and removes this master's record. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#watch?.stop();
    if (this.#kv !== undefined && !this.#link.nc.isClosed()) {
      await this.#kv.delete(this.#id).catch(() => undefined);
    }
  }

  async #beat(): Promise<void> {
    if (!this.#link.connected()) return;
    const record: MasterRecord = { v: kSchemaVersion, ...this.#self(), beat: Date.now() };
    this.#records.set(record.id, record);
    // the bucket forgets a record past its TTL without telling watchers: forget it here too
    for (const [id, other] of this.#records) {
      if (record.beat - other.beat > this.#beatMs * 10) this.#records.delete(id);
    }
    await this.#kv!.put(record.id, JSON.stringify(record));
  }

  #read(key: string, value: Uint8Array): void {
    if (value.length > kMaxRecordBytes) return;
    let record: MasterRecord;
    try {
      record = JSON.parse(Buffer.from(value).toString('utf8')) as MasterRecord;
    } catch {
      return;
    }
    if (record?.v !== kSchemaVersion || record.id !== key || typeof record.beat !== 'number') return;
    if (!this.#records.has(key) && this.#records.size >= kMaxRecords) return;
    this.#records.set(key, record);
  }
}
