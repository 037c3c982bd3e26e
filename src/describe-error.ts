// Its own module, without imports: pool threads load it (under tsx on Node 20, through `require`), and a module
// loaded both that way and as ESM on the main thread is merged by c8 as one script, which garbles its coverage.

/** `Name: message` of whatever was thrown; never throws itself (a getter or `toString` of a thrown value may). */
export function describeError(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return 'a value that cannot be described';
  }
}
