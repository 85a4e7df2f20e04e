// The fixed-rate load generator: requests sent at a constant pace (an open model: the next one
// leaves on time whether or not the previous ones were answered), each timed from the moment it
// was due to leave, so that a slow answer that holds the next requests back is counted in their
// latency too (no coordinated omission). autocannon's own rate option is not that: each of its
// connections sends back to back until its share of the second is used up, then waits for the
// next second, i.e. bursts at full concurrency. Runs in a process of its own (bench/lib.ts
// runPaced); prints one JSON LoadResult on stdout.
import http from 'node:http';
import type { LoadResult, PacedSpec } from './lib.js';

const spec = JSON.parse(process.argv[2] ?? '') as PacedSpec;
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
const url = new URL(spec.url);
const now = () => performance.now();

const latencies: number[] = [];
let non2xx = 0;
let errors = 0;

function send(dueAt: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, headers: spec.headers ?? {} }, (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        latencies.push(now() - dueAt);
        if (res.statusCode! < 200 || res.statusCode! >= 300) non2xx++;
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end();
  });
}

const total = Math.round(spec.rate * spec.seconds);
const interval = 1000 / spec.rate;
const started = now();
const inFlight: Promise<void>[] = [];
let sent = 0;
await new Promise<void>((resolve) => {
  // Node's timers fire at best every millisecond: each tick sends every request now due.
  const tick = () => {
    const dueCount = Math.min(total, Math.floor((now() - started) / interval) + 1);
    for (; sent < dueCount; sent++) inFlight.push(send(started + sent * interval));
    if (sent < total) setTimeout(tick, 1);
    else resolve();
  };
  tick();
});
await Promise.all(inFlight);
const seconds = (now() - started) / 1000;
agent.destroy();

latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
const result: LoadResult = {
  requests: latencies.length,
  seconds,
  opsPerSec: latencies.length / seconds,
  p50Ms: at(0.5),
  p90Ms: at(0.9),
  p99Ms: at(0.99),
  maxMs: latencies.at(-1) ?? NaN,
  non2xx,
  errors,
  timeouts: 0,
};
process.stdout.write(JSON.stringify(result));
