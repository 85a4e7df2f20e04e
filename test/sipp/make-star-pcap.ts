// Writes test/sipp/uac-code-star.pcap: RTP telephone-events (RFC 4733) for the `*` key, one
// every 2 s from 12 s to 60 s after the scenario plays it, each with its own RTP timestamp
// (Asterisk ignores an event whose timestamp it has already seen, so SIPp's one-key pcaps
// cannot be replayed). The IVR listens for `*` only between readings of the code: a train of
// presses makes the test independent of how long the prompts take on a loaded machine.
//   npx tsx test/sipp/make-star-pcap.ts
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const STAR = 10; // RFC 4733 event code of '*'
const FIRST_MS = 12_000;
const EVERY_MS = 2_000;
const PRESSES = 25;
const SSRC = 0x5a4e5343;

function ipv4Udp(payload: Buffer): Buffer {
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(6000, 0);
  udp.writeUInt16BE(6000, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set([127, 0, 0, 1], 12);
  ip.set([127, 0, 0, 1], 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, udp, payload]);
}

const records: Buffer[] = [];
function record(atMs: number, packet: Buffer, tiebreakUs = 0): void {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(Math.floor(atMs / 1000), 0);
  header.writeUInt32LE((atMs % 1000) * 1000 + tiebreakUs, 4);
  header.writeUInt32LE(packet.length, 8);
  header.writeUInt32LE(packet.length, 12);
  records.push(header, packet);
}

let seq = 1000;
// SIPp replays a pcap relative to its first packet: one packet of A-law silence at 0 ms makes
// the presses start FIRST_MS after the scenario plays the file.
const silence = Buffer.alloc(12 + 160, 0xd5);
silence[0] = 0x80;
silence[1] = 8;
silence.writeUInt16BE(seq++, 2);
silence.writeUInt32BE(0, 4);
silence.writeUInt32BE(SSRC, 8);
record(0, ipv4Udp(silence));

for (let press = 0; press < PRESSES; press++) {
  const atMs = FIRST_MS + press * EVERY_MS;
  const rtpTimestamp = 8 * atMs; // 8 kHz clock
  // 7 packets while the key is down (duration grows by 20 ms), then the end packet 3 times.
  for (let i = 0; i < 10; i++) {
    const end = i >= 7;
    const duration = Math.min(i, 7) * 160 + 160;
    const rtp = Buffer.alloc(16);
    rtp[0] = 0x80;
    rtp[1] = (i === 0 ? 0x80 : 0) | 101;
    // The end packet is sent three times, with one sequence number.
    rtp.writeUInt16BE(seq, 2);
    rtp.writeUInt32BE(rtpTimestamp, 4);
    rtp.writeUInt32BE(SSRC, 8);
    rtp[12] = STAR;
    rtp[13] = (end ? 0x80 : 0) | 10; // E bit, volume -10 dBm0
    rtp.writeUInt16BE(duration, 14);
    if (i < 7 || i === 9) seq++;
    record(atMs + Math.min(i, 7) * 20, ipv4Udp(rtp), i);
  }
}
const global = Buffer.alloc(24);
global.writeUInt32LE(0xa1b2c3d4, 0);
global.writeUInt16LE(2, 4);
global.writeUInt16LE(4, 6);
global.writeUInt32LE(65535, 16);
global.writeUInt32LE(1, 20);
const out = path.join(import.meta.dirname, 'uac-code-star.pcap');
writeFileSync(out, Buffer.concat([global, ...records]));
console.log(`wrote ${out}: ${PRESSES} presses of * every ${EVERY_MS} ms from ${FIRST_MS} ms`);
