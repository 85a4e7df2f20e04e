// Where an IVR call's time to its first 183 goes, read from a loopback capture of a decision
// bench (docs/performance.md). Not part of `npm run bench`: it needs tcpdump, which the project
// does not install.
//
//   tcpdump -i lo -s 3000 -w /tmp/decision.pcap 'udp port 5060 or tcp port 8088' &
//   flock /tmp/sanscode-asterisk.lock env BENCH_CALLS=decision npm run bench -- calls
//   kill %1; npx tsx bench/early-media-capture.ts /tmp/decision.pcap
//
// For each call: the INVITE arriving at Asterisk (SIP, UDP 5060), the StasisStart frame leaving
// on the ARI websocket (TCP 8088), the IVR's POST .../progress arriving, and the 183 leaving.
// A plain-dialplan call has no websocket part. Times are the kernel's capture timestamps, so
// they include neither process's scheduling guesswork.
import { readFileSync } from 'node:fs';

interface Packet {
  ms: number;
  udp: boolean;
  sport: number;
  dport: number;
  text: string;
}

/** The packets of a classic pcap file (not pcapng), link types Ethernet, Linux cooked v1/v2 or raw. */
function readPcap(file: string): Packet[] {
  const buf = readFileSync(file);
  if (buf.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian pcap file (tcpdump -w writes one)`);
  const linkHeader: Record<number, number> = { 1: 14, 113: 16, 276: 20, 101: 0 };
  const link = linkHeader[buf.readUInt32LE(20)];
  if (link === undefined) throw new Error(`${file}: link type ${buf.readUInt32LE(20)} not read here`);
  const packets: Packet[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const ms = buf.readUInt32LE(off) * 1e3 + buf.readUInt32LE(off + 4) / 1e3;
    const data = buf.subarray(off + 16, off + 16 + buf.readUInt32LE(off + 8));
    off += 16 + data.length;
    const ip = link;
    const protocol = data[ip + 9];
    const l4 = ip + (data[ip]! & 15) * 4;
    if (protocol !== 6 && protocol !== 17) continue;
    const payloadAt = protocol === 17 ? l4 + 8 : l4 + (data[l4 + 12]! >> 4) * 4;
    if (payloadAt >= data.length) continue;
    packets.push({ ms, udp: protocol === 17, sport: data.readUInt16BE(l4), dport: data.readUInt16BE(l4 + 2), text: data.subarray(payloadAt).toString('latin1') });
  }
  return packets;
}

interface Call {
  invite: number;
  earlyMedia?: number;
}

function breakdown(packets: Packet[]) {
  const calls = new Map<string, Call>();
  const stasisStarts: { ms: number; channelId: string }[] = [];
  const progressPosts = new Map<string, number>();
  for (const p of packets) {
    const callId = () => /Call-ID:\s*(\S+)/i.exec(p.text)?.[1] ?? '';
    if (p.udp && p.dport === 5060 && p.text.startsWith('INVITE ')) {
      if (!calls.has(callId())) calls.set(callId(), { invite: p.ms });
    } else if (p.udp && p.sport === 5060 && p.text.startsWith('SIP/2.0 183')) {
      const call = calls.get(callId());
      if (call && call.earlyMedia === undefined) call.earlyMedia = p.ms;
    } else if (!p.udp && p.sport === 8088 && p.text.includes('"type":"StasisStart"')) {
      const channelId = /"channel":\{"id":"([^"]+)"/.exec(p.text)?.[1];
      if (channelId) stasisStarts.push({ ms: p.ms, channelId });
    } else if (!p.udp && p.dport === 8088) {
      const post = /^POST \/ari\/channels\/([^/?]+)\/progress/.exec(p.text);
      if (post && !progressPosts.has(post[1]!)) progressPosts.set(post[1]!, p.ms);
    }
  }
  // A call's StasisStart is the first one after its INVITE: at the bench's 20 calls/s, calls
  // are 50 ms apart and each part takes a few.
  const answered = [...calls.values()].filter((c) => c.earlyMedia !== undefined).sort((a, b) => a.invite - b.invite);
  const ivr: { total: number; asteriskToEvent: number; inIvr: number; asteriskTo183: number }[] = [];
  const dialplan: number[] = [];
  let next = 0;
  for (const call of answered) {
    while (next < stasisStarts.length && stasisStarts[next]!.ms < call.invite) next++;
    const start = stasisStarts[next];
    const post = start && progressPosts.get(start.channelId);
    if (start && post !== undefined && start.ms < call.earlyMedia!) {
      next++;
      ivr.push({ total: call.earlyMedia! - call.invite, asteriskToEvent: start.ms - call.invite, inIvr: post - start.ms, asteriskTo183: call.earlyMedia! - post });
    } else {
      dialplan.push(call.earlyMedia! - call.invite);
    }
  }
  return { ivr, dialplan };
}

function quantiles(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]?.toFixed(2) ?? '-';
  return `p50 ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)} ms  (${sorted.length} calls)`;
}

const file = process.argv[2];
if (!file) {
  console.error('usage: npx tsx bench/early-media-capture.ts FILE.pcap');
  process.exit(2);
}
const { ivr, dialplan } = breakdown(readPcap(file));
console.log(`plain dialplan   INVITE → 183             ${quantiles(dialplan)}`);
console.log(`IVR              INVITE → 183             ${quantiles(ivr.map((c) => c.total))}`);
console.log(`  Asterisk       INVITE → StasisStart out ${quantiles(ivr.map((c) => c.asteriskToEvent))}`);
console.log(`  IVR            StasisStart → POST in    ${quantiles(ivr.map((c) => c.inIvr))}`);
console.log(`  Asterisk       POST → 183 out           ${quantiles(ivr.map((c) => c.asteriskTo183))}`);
