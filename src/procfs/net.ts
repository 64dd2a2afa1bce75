/** Parsers for /proc/net/{tcp,tcp6,udp,udp6}: the socket tables of the reader's network namespace. */

import { isIP } from 'node:net';

export type SocketProtocol = 'tcp' | 'tcp6' | 'udp' | 'udp6';

export interface SocketEntry {
  protocol: SocketProtocol;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Kernel state code: 0x0A is TCP LISTEN, 0x07 is a bound, unconnected UDP socket. */
  state: number;
  uid: number;
  inode: number;
}

export const TCP_LISTEN = 0x0a;
export const UDP_UNCONNECTED = 0x07;

/** IPv4 addresses are printed as one 32-bit word in host byte order (little-endian here). */
function ipv4(hex: string): string {
  const word = parseInt(hex, 16);
  return [word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24].join('.');
}

/** IPv6 addresses are four host-order 32-bit words. */
function ipv6(hex: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < 32; i += 8) {
    const word = parseInt(hex.slice(i, i + 8), 16);
    bytes.push(word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24);
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // Compress the longest run of zero groups, as inet_ntop does.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function endpoint(text: string, v6: boolean): [string, number] | null {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return null;
  const addr = text.slice(0, colon);
  if (addr.length !== (v6 ? 32 : 8)) return null;
  return [v6 ? ipv6(addr) : ipv4(addr), parseInt(text.slice(colon + 1), 16)];
}

export function parseNetSockets(text: string, protocol: SocketProtocol): SocketEntry[] {
  const v6 = protocol.endsWith('6');
  const entries: SocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = endpoint(cols[1]!, v6);
    const remote = endpoint(cols[2]!, v6);
    const inode = Number(cols[9]);
    if (local === null || remote === null || !Number.isInteger(inode)) continue;
    entries.push({
      protocol,
      localAddress: local[0],
      localPort: local[1],
      remoteAddress: remote[0],
      remotePort: remote[1],
      state: parseInt(cols[3]!, 16),
      uid: Number(cols[7]),
      inode,
    });
  }
  return entries;
}

/** Sockets that accept traffic on a port: TCP in LISTEN, UDP bound and unconnected. */
export function isListening(entry: SocketEntry): boolean {
  return entry.protocol.startsWith('tcp') ? entry.state === TCP_LISTEN : entry.state === UDP_UNCONNECTED && entry.remotePort === 0;
}

/**
 * One spelling per address, so addresses compare as strings: IPv6 lowercase and compressed
 * (`0:0::1` is `::1`), and an IPv4-mapped IPv6 address as the IPv4 address it stands for
 * (a socket bound on `::ffff:127.0.0.1` serves 127.0.0.1). Null when the text is not an IP address.
 */
export function canonicalAddress(text: string): string | null {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return null;
  let host: string;
  try {
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return text.toLowerCase(); // a zone index (fe80::1%eth0): kept as written
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped === null) return host;
  const [high, low] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
