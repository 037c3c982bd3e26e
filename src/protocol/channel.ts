const kDigits = /^[0-9]+$/;

export type ChannelVerdict = 'ok' | 'missing' | 'invalid';

/**
 * Strict channel matching. Empty counts as missing (the reference treats it so); anything that is not plain
 * ASCII digits naming the same integer is invalid (the reference crashes with a 500 on non-integers).
 * The exact string is precomputed so the hot path is one string comparison.
 */
export function createChannelCheck(channel: number): (header: string) => ChannelVerdict {
  const exact = String(channel);
  return (header) => {
    if (header === exact) return 'ok';
    if (header.length === 0) return 'missing';
    // leading zeros name the same integer to the reference's int(); accept them, reject everything else
    if (header.length <= 32 && kDigits.test(header) && Number(header) === channel) return 'ok';
    return 'invalid';
  };
}
