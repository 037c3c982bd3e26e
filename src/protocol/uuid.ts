const kUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A task id as the protocol carries it: a UUID in its canonical hyphenated form (any case). */
export function isUuid(value: string): boolean {
  return kUuid.test(value);
}
