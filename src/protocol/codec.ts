import { Packr } from 'msgpackr';

/** The two wire formats. JSON is DI-engine's; MessagePack is fleetmaster's extension. */
export const kJson = 'application/json';
export const kMsgpack = 'application/msgpack';

// useRecords: false keeps the output plain MessagePack that any decoder reads (no msgpackr record extension).
const packr = new Packr({ useRecords: false, moreTypes: true });

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
