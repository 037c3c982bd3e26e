import { Packr } from 'msgpackr';

/** The two wire formats. JSON is DI-engine's; MessagePack is fleetmaster's extension. */
export const kJson = 'application/json';
export const kMsgpack = 'application/msgpack';

/**
 * msgpackr, set on purpose (every body a peer sends goes through `unpack`):
 * - `useRecords: false`: the output is plain MessagePack any decoder reads (no msgpackr record extension).
 * - `moreTypes: true`: typed arrays (and Sets, Errors, RegExps, BigInts past 64 bits) are *written* as msgpackr's
 *   extensions, so a Float32Array arrives as one. It changes only what we write: msgpackr reads its extensions
 *   from any peer whatever the options (`unpack` always knows typed arrays, Set, Error, RegExp, Date, undefined
 *   and the BigInt extension), so a peer can still send a BigInt that way; JSON writers must expect one.
 * - `int64AsType: 'number'`: MessagePack's int64/uint64 (a Python slave's ints of 2^31 and up) read as numbers,
 *   not BigInts: the value a result decodes to is then the same whichever format the slave chose (JSON.parse
 *   too rounds integers past 2^53), a handler gets plain numbers, and a JSON writer can write them.
 * - `structuredClone: false`: a peer's structured-clone extension (shared and cyclic references) is refused as
 *   invalid MessagePack. msgpackr reads it unless this is set to exactly false; a cycle from a peer would
 *   reach handlers and JSON writers, and it buys a peer nothing that plain data cannot say.
 */
const packr = new Packr({
  useRecords: false,
  moreTypes: true,
  int64AsType: 'number',
  structuredClone: false,
});

/** True for MessagePack content types; anything else (including none, as DI-engine sends) is JSON. */
export function isMsgpack(contentType: string): boolean {
  return contentType.startsWith(kMsgpack) || contentType.startsWith('application/x-msgpack');
}

export type Decoded = { ok: true; value: unknown } | { ok: false; message: string };

export function decodeBody(body: Uint8Array, contentType: string): Decoded {
  if (isMsgpack(contentType)) {
    try {
      return { ok: true, value: packr.unpack(body) };
    } catch {
      return { ok: false, message: 'Body is not valid MessagePack.' };
    }
  }
  try {
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    // DI-engine sends '{}' for an empty body; an absent body reads as {} too
    return { ok: true, value: text.length === 0 ? {} : JSON.parse(text) };
  } catch {
    return { ok: false, message: 'Body is not valid JSON.' };
  }
}

/**
 * Encodes a body. MessagePack output is copied into a buffer of its own: msgpackr returns a view of a shared
 * pool, and transferring or keeping such a view would pin (or detach) the whole pool.
 */
export function encodeBody(value: unknown, contentType: string): string | Buffer {
  if (!isMsgpack(contentType)) return JSON.stringify(value);
  return Buffer.from(packr.pack(value));
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
