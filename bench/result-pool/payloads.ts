/**
 * The result bodies the result-pool benchmark sends, built once per size and format. Pure and deterministic
 * (a seeded generator), so two runs send the same bytes.
 *
 * A body is `{"task": {"id": <uuid>}, "result": {"values": [...]}}`, encoded the way fleetmaster's slave encodes
 * it (src/protocol/codec.ts). The size names the **body on the wire**: the number of values is chosen so the
 * encoded body is as close to the size as possible without passing it.
 * - MessagePack: `values` is a Float32Array (msgpackr's typed-array extension: 4 bytes per value, no base64).
 * - JSON: `values` is an array of the same kind of numbers (float32 values widened to doubles, as a Python
 *   slave's `tensor.tolist()` gives), written as JSON numbers. Each takes ~19 characters, so a JSON body of a given
 *   size carries about a fifth as many values as a MessagePack body of that size.
 */
import { encodeBody, kJson, kMsgpack } from '../../src/protocol/codec.ts';

export type ResultFormat = 'json' | 'msgpack';
export const kResultFormats: readonly ResultFormat[] = ['json', 'msgpack'];

export interface ResultPayload {
  format: ResultFormat;
  /** The size asked for, in bytes. */
  size: number;
  /** The body as sent. */
  body: Buffer;
  contentType: string;
  /** Numbers in `result.values`. */
  values: number;
}

/** Parses `1k`, `64K`, `1m`, `1024` (k = 1024). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmM]?)[bB]?$/.exec(text.trim());
  if (!match) throw new RangeError(`not a size: ${JSON.stringify(text)} (try 1k, 64k, 1m)`);
  const unit = match[2]!.toLowerCase();
  const bytes = Number(match[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
  return Math.round(bytes);
}

/** `1 KB`, `64 KB`, `1 MB`, or bytes. */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KB`;
  return `${bytes} B`;
}

/** mulberry32: a tiny seeded generator, values in [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bodyOf = (taskId: string, values: unknown, format: ResultFormat) => {
  const encoded = encodeBody(
    { task: { id: taskId }, result: { values } },
    format === 'json' ? kJson : kMsgpack,
  );
  return typeof encoded === 'string' ? Buffer.from(encoded) : encoded;
};

/** A body of at most `size` bytes (and as close to it as the values allow) carrying float32 values. */
export function buildResultPayload(size: number, format: ResultFormat, taskId: string): ResultPayload {
  const next = generator(size * 2 + (format === 'json' ? 0 : 1));
  // float32 values in [-1, 1), as observations or gradients would be
  const value = () => Math.fround(next() * 2 - 1);
  let body: Buffer;
  let count: number;
  if (format === 'msgpack') {
    const overhead = bodyOf(taskId, new Float32Array(0), format).length;
    count = Math.max(0, Math.floor((size - overhead) / 4));
    // the typed-array header may grow by a few bytes with the length: step down until it fits
    for (;;) {
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = value();
      body = bodyOf(taskId, values, format);
      if (body.length <= size || count === 0) break;
      count -= Math.ceil((body.length - size) / 4);
      if (count < 0) count = 0;
    }
  } else {
    const values: number[] = [];
    let length = bodyOf(taskId, values, format).length;
    for (;;) {
      const v = value();
      const extra = JSON.stringify(v).length + (values.length > 0 ? 1 : 0);
      if (length + extra > size) break;
      values.push(v);
      length += extra;
    }
    count = values.length;
    body = bodyOf(taskId, values, format);
  }
  return { format, size, body, contentType: format === 'json' ? kJson : kMsgpack, values: count };
}
