// Where webhooks may go. A merchant chooses the URL, so without a check sanscode would POST
// signed requests into its own network (databases' HTTP ports, cloud metadata endpoints...).
// Unless the operator allows private networks (development, tests, a receiver on the LAN),
// a URL whose host is or resolves to a loopback, private, link-local or otherwise non-public
// address is refused: when it is set, and again before every delivery (DNS may change).
// What remains: a DNS answer that changes between our check and fetch's own lookup.
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const nonPublic = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  nonPublic.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 127], // unspecified and loopback
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  nonPublic.addSubnet(net, prefix, 'ipv6');
}

function isNonPublic(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return nonPublic.check(mapped[1]!, 'ipv4');
  return nonPublic.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** Why sanscode will not deliver to this URL, or null when it may. */
export async function refusedDestination(url: string, allowPrivateNetworks: boolean): Promise<string | null> {
  if (allowPrivateNetworks) return null;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    return `cannot resolve ${host}`;
  }
  const bad = addresses.find(isNonPublic);
  return bad ? `${host} is or resolves to a non-public address (${bad})` : null;
}
