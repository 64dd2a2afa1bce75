/** `10.0.0.0/8`, `fd00::/8`: membership tests for the addresses connect/accept events carry. */

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { InputError } from '../errors.js';

/** A test for one network (Node's BlockList does the arithmetic); bad text is InputError. */
export function cidrTest(network: string): (address: string) => boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(network);
  const family = m === null ? null : isIPv4(m[1]!) ? 'ipv4' : isIPv6(m[1]!) ? 'ipv6' : null;
  const bits = m === null ? NaN : Number(m[2]);
  if (m === null || family === null || bits > (family === 'ipv4' ? 32 : 128)) {
    throw new InputError(`bad network '${network}' (expected ADDRESS/BITS such as 10.0.0.0/8 or fd00::/8)`);
  }
  const list = new BlockList();
  list.addSubnet(m[1]!, bits, family);
  return (address) => {
    // IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are IPv4 addresses for this purpose.
    const plain = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
    const fam = isIPv4(plain) ? 'ipv4' : isIPv6(plain) ? 'ipv6' : null;
    return fam !== null && list.check(plain, fam);
  };
}
