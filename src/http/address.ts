import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

const kWildcards = new Set(['0.0.0.0', '::', '']);

export function isWildcard(host: string): boolean {
  return kWildcards.has(host);
}

export function formatOrigin(scheme: 'http' | 'https', host: string, port: number): string {
  return `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/**
 * The local address the kernel would use to reach `host`: a connected UDP socket learns its source address
 * from the routing table without sending a packet. The reference asks this of a public address (8.8.8.8),
 * which fails on a machine with no route out; asking it of the slave's own address works on any network that
 * can reach the slave.
 */
export function localAddressTowards(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    try {
      socket.connect(port, host, () => {
        const { address } = socket.address();
        socket.close();
        resolve(address);
      });
    } catch (err) {
      // a bad port throws here, not as an event: the socket must not be left open
      socket.close();
      reject(err);
    }
  });
}
