/**
 * Which `Host` a listener answers: the defence of a tokenless listener on a private address against DNS rebinding.
 * A page the operator opens can point its own name at 127.0.0.1 and then read whatever that address serves, from
 * the operator's browser, as same-origin; but the browser still sends the page's name as `Host`. A listener that
 * answers only the names it is known by is out of that page's reach. Pure functions: no sockets.
 */
import { isIPv6 } from 'node:net';

/**
 * The longest `Host` header read: a DNS name (at most 253 characters) with a port fits; a longer one is refused
 * on its length alone, before any parsing.
 */
export const kMaxHostHeaderLength = 300;

/** The item of an allow-list that turns the check off. */
export const kAnyHost = '*';

/** A DNS name or an IPv4 address: labels of letters, digits, `-` and `_`, and at most one trailing dot. */
const kName = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/i;
/** `:` and at most five digits (an empty port is allowed by RFC 9110's `Host` grammar). */
const kPort = /^(?::\d{0,5})?$/;

/**
 * A host name as the check compares it: lower-case, without a trailing dot, an IPv6 address without brackets
 * and in its canonical form (`[0:0::1]` → `::1`); undefined for anything that is neither a name nor an address
 * (a port, a path, a zone id, spaces).
 */
export function normaliseHostname(name: string): string | undefined {
  if (name.length === 0 || name.length > kMaxHostHeaderLength) return undefined;
  const bracketed = name.startsWith('[') && name.endsWith(']');
  const bare = bracketed ? name.slice(1, -1) : name;
  // brackets hold an IPv6 address and nothing else
  if (bracketed || bare.includes(':')) return canonicalIPv6(bare);
  if (!kName.test(bare)) return undefined;
  const lower = bare.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function canonicalIPv6(address: string): string | undefined {
  if (!isIPv6(address)) return undefined;
  try {
    // WHATWG URL's serialisation is the canonical text form, the one browsers send
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    // a zone id (`fe80::1%eth0`) is an IPv6 address to node but no URL host
    return undefined;
  }
}

/**
 * The host name of a `Host` header (`name`, `name:port`, `[v6]`, `[v6]:port`), normalised, its port ignored;
 * undefined when it is empty, too long or not of that shape (an IPv6 address must be in brackets there).
 */
export function hostnameOf(header: string): string | undefined {
  if (header.length === 0 || header.length > kMaxHostHeaderLength) return undefined;
  let name: string;
  let port: string;
  if (header.startsWith('[')) {
    const close = header.indexOf(']');
    if (close < 0) return undefined;
    name = header.slice(0, close + 1);
    port = header.slice(close + 1);
  } else {
    const colon = header.indexOf(':');
    name = colon < 0 ? header : header.slice(0, colon);
    port = colon < 0 ? '' : header.slice(colon);
    if (name.startsWith('[') || name.endsWith(']')) return undefined;
  }
  if (!kPort.test(port)) return undefined;
  return normaliseHostname(name);
}

/**
 * The names a tokenless listener on `host` answers by default: loopback by name and address, and the address it
 * listens on, unless that is a wildcard (which names no host).
 */
export function defaultAllowedHosts(host: string): string[] {
  const names = ['localhost', '127.0.0.1', '::1'];
  const own = host === '0.0.0.0' || host === '::' ? undefined : normaliseHostname(host);
  if (own !== undefined && !names.includes(own)) names.push(own);
  return names;
}

/**
 * A check of `Host` headers against an allow-list of normalised names (see `normaliseHostname`); a list holding
 * `*` lets every request through, a missing or malformed header included.
 */
export function createHostCheck(allowed: Iterable<string>): (header: string) => boolean {
  const names = new Set(allowed);
  if (names.has(kAnyHost)) return () => true;
  return (header) => {
    const name = hostnameOf(header);
    return name !== undefined && names.has(name);
  };
}
