export type ChannelVerdict = 'ok' | 'missing' | 'invalid';

/**
 * Strict channel matching: the header must be exactly the channel's decimal digits (`233`, never `0233`,
 * `+233`, `2_33` or `233.0`). Empty counts as missing, as in the reference; anything else is invalid (the
 * reference crashes with a 500 on non-integers). HTTP parsers drop the whitespace around a header value, so
 * `" 0233 "` arrives as `0233` and is refused for its leading zero. One string comparison on the hot path.
 */
export function createChannelCheck(channel: number): (header: string) => ChannelVerdict {
  const exact = String(channel);
  return (header) => (header === exact ? 'ok' : header.length === 0 ? 'missing' : 'invalid');
}
