// The watchers of `npm run bench -- sse`: thousands of live streams held by this one process
// (forked by bench/sse.ts, never the API's), each a raw TCP socket speaking just enough HTTP/1.1
// to open GET /v1/purchases/{id}/events and watch what arrives, so that holding 10,000 of them
// costs little here and timing them stays cheap. Driven over IPC:
//   open    open `count` streams, stream i on purchases[first + i] (wrapping), at most
//           `inFlight` opening at once
//   expect  from now on, note when each stream of these purchases (and no other) first shows
//           callsCounted = k
//   collect hand back what was noted since expect (epoch ms, or null when nothing came yet)
//   close   drop every stream and exit
import { connect, type Socket } from 'node:net';

export type WatcherCommand =
  | { type: 'open'; port: number; apiKey: string; purchases: string[]; first: number; count: number; inFlight: number; timeoutMs: number }
  | { type: 'expect'; targets: Record<string, number> }
  | { type: 'collect' }
  | { type: 'close' };

export type WatcherReply =
  | { type: 'opened'; opened: number; refused: Record<string, number>; seconds: number; openMs: number[] }
  | { type: 'expecting' }
  | { type: 'collected'; arrivals: { purchaseId: string; at: number | null }[] };

interface Stream {
  purchaseId: string;
  socket: Socket;
  /** The marker awaited (`"callsCounted":k,`) and when it came. */
  marker: string | null;
  at: number | null;
  /** The end of the previous chunk, in case the marker straddles two. */
  tail: string;
}

const now = () => performance.timeOrigin + performance.now();
const streams: Stream[] = [];
const send = (reply: WatcherReply) => process.send!(reply);

function openOne(port: number, apiKey: string, purchaseId: string, timeoutMs: number): Promise<{ stream: Stream | null; status: string; ms: number }> {
  return new Promise((resolve) => {
    const started = now();
    const socket = connect({ host: '127.0.0.1', port });
    const stream: Stream = { purchaseId, socket, marker: null, at: null, tail: '' };
    let head = '';
    let settled = false;
    const settle = (status: string, ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ok) socket.destroy();
      resolve({ stream: ok ? stream : null, status, ms: now() - started });
    };
    const timer = setTimeout(() => settle('timeout', false), timeoutMs);
    socket.setNoDelay(true);
    socket.on('error', (err: NodeJS.ErrnoException) => settle(err.code ?? 'error', false));
    socket.on('close', () => settle('closed', false));
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (!settled) {
        head += text;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
        if (!status) return;
        settle(status, status === '200');
        return;
      }
      if (!stream.marker || stream.at !== null) return;
      const seen = stream.tail + text;
      if (seen.includes(stream.marker)) stream.at = now();
      else stream.tail = seen.slice(-stream.marker.length);
    });
    socket.write(`GET /v1/purchases/${purchaseId}/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${apiKey}\r\nAccept: text/event-stream\r\n\r\n`);
  });
}

async function open(cmd: Extract<WatcherCommand, { type: 'open' }>): Promise<void> {
  const started = now();
  const refused: Record<string, number> = {};
  const openMs: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(cmd.inFlight, cmd.count) }, async () => {
      for (let i = next++; i < cmd.count; i = next++) {
        const r = await openOne(cmd.port, cmd.apiKey, cmd.purchases[(cmd.first + i) % cmd.purchases.length]!, cmd.timeoutMs);
        if (r.stream) {
          streams.push(r.stream);
          openMs.push(r.ms);
        } else refused[r.status] = (refused[r.status] ?? 0) + 1;
      }
    }),
  );
  send({ type: 'opened', opened: openMs.length, refused, seconds: (now() - started) / 1000, openMs });
}

process.on('message', (cmd: WatcherCommand) => {
  if (cmd.type === 'open') void open(cmd);
  if (cmd.type === 'expect') {
    for (const s of streams) {
      const k = cmd.targets[s.purchaseId];
      s.marker = k === undefined ? null : `"callsCounted":${k},`;
      s.at = null;
      s.tail = '';
    }
    send({ type: 'expecting' });
  }
  if (cmd.type === 'collect') {
    send({ type: 'collected', arrivals: streams.filter((s) => s.marker).map((s) => ({ purchaseId: s.purchaseId, at: s.at })) });
  }
  if (cmd.type === 'close') {
    for (const s of streams) s.socket.destroy();
    process.exit(0);
  }
});
