import v8 from 'node:v8';

/**
 * A handler's value as it crosses from a pool thread to the main thread: serialised on the thread, one job at a
 * time, and read back on the main thread, one job at a time. Structured clone of the whole batch reply would
 * make one job's value everybody's problem: a value that cannot be cloned (a function, a symbol, nesting deeper
 * than the serialiser's stack) killed the thread and was blamed on whichever job the thread was on, and a value
 * the thread could write but the main thread could not read back (its stack is about a quarter of a thread's:
 * ~1,000–5,000 levels against ~10,000–20,000) lost the whole reply. Here each step fails for its own job only,
 * and the reply holds nothing but strings, numbers and bytes.
 *
 * The format is V8's (`v8.serialize`): plain data, Maps, Sets, Dates, RegExps, BigInts, Errors and cycles
 * survive, as with structured clone. Binary views are written as their own bytes only (not their whole
 * ArrayBuffer, which for msgpackr's output is the entire request body) and read back into a buffer of their own
 * (not a view into the reply), so each typed array or Buffer comes back owning exactly its bytes.
 */

/** Binary view types by their index on the wire; Buffer is its own entry so it comes back a Buffer. */
const kViewTypes = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
  Buffer,
] as const;
const kBufferIndex = kViewTypes.length - 1;
const kIndexByTag = new Map<string, number>(
  kViewTypes.slice(0, kBufferIndex).map((type, i) => [type.name, i]),
);

class ValueSerializer extends v8.DefaultSerializer {
  _writeHostObject(object: object): void {
    const index = ArrayBuffer.isView(object)
      ? Buffer.isBuffer(object)
        ? kBufferIndex
        : // by its tag, so subclasses of a typed array travel as their base type
          kIndexByTag.get(Object.prototype.toString.call(object).slice(8, -1))
      : undefined;
    if (index === undefined || !ArrayBuffer.isView(object)) {
      throw new (this as unknown as { _getDataCloneError: ErrorConstructor })._getDataCloneError(
        `${Object.prototype.toString.call(object)} could not be cloned.`,
      );
    }
    this.writeUint32(index);
    this.writeUint32(object.byteLength);
    this.writeRawBytes(new Uint8Array(object.buffer, object.byteOffset, object.byteLength));
  }
}

class ValueDeserializer extends v8.DefaultDeserializer {
  _readHostObject(): unknown {
    const index = this.readUint32();
    const byteLength = this.readUint32();
    // a view into the reply's bytes: copied, so the value never pins (or shares) the reply's buffer
    const bytes = new Uint8Array(byteLength);
    bytes.set(this.readRawBytes(byteLength) as unknown as Uint8Array);
    const type = kViewTypes[index];
    if (type === undefined) throw new TypeError(`unknown binary view type ${index}`);
    if (type === Buffer) return Buffer.from(bytes.buffer);
    if (type === DataView) return new DataView(bytes.buffer);
    return new (type as Float64ArrayConstructor)(bytes.buffer);
  }
}

/** The value as bytes that own their ArrayBuffer (safe to transfer). Throws what the serialiser throws. */
export function valueToBytes(value: unknown): Uint8Array {
  const serializer = new ValueSerializer();
  serializer.writeHeader();
  serializer.writeValue(value);
  return serializer.releaseBuffer();
}

/** The value back from `valueToBytes`' bytes. Throws when it cannot be read here (e.g. too deep for this stack). */
export function valueFromBytes(bytes: Uint8Array): unknown {
  const deserializer = new ValueDeserializer(bytes);
  deserializer.readHeader();
  return deserializer.readValue();
}
