// The fixed-rate load generator: requests sent at a constant pace (an open model: the next one
// leaves on time whether or not the previous ones were answered), each timed from the moment it
// was due to leave, so that a slow answer that holds the next requests back is counted in their
// latency too (no coordinated omission). autocannon's own rate option is not that: each of its
// connections sends back to back until its share of the second is used up, then waits for the
// next second, i.e. bursts at full concurrency. Runs in a process of its own (bench/lib.ts
// runPaced); prints one JSON LoadResult on stdout.
// The first `warmupSeconds` go out at the same pace and are not measured. This process starts
// cold for each round: measured from its first request, a round's p99 held this client's own
// start (its JIT, its sockets being opened), and the servers' answer to a sudden load after
// idling. In one run of the status read on 2026-12-07, 461 of the API's first 500 requests
// took over 10 ms, and 0-60 of each later 500.
import http from 'node:http';
import type { LoadResult, PacedSpec } from './lib.js';

const spec = JSON.parse(process.argv[2] ?? '') as PacedSpec;
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
const url = new URL(spec.url);
const now = () => performance.now();

const latencies: number[] = [];
let non2xx = 0;
let errors = 0;

function send(dueAt: number, measured: boolean): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, headers: spec.headers ?? {} }, (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        if (measured) latencies.push(now() - dueAt);
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

const warmupRequests = Math.round(spec.rate * (spec.warmupSeconds ?? 0));
const total = warmupRequests + Math.round(spec.rate * spec.seconds);
const interval = 1000 / spec.rate;
const started = now();
const inFlight: Promise<void>[] = [];
let sent = 0;
await new Promise<void>((resolve) => {
  // Node's timers fire at best every millisecond: each tick sends every request now due.
  const tick = () => {
    const dueCount = Math.min(total, Math.floor((now() - started) / interval) + 1);
    for (; sent < dueCount; sent++) inFlight.push(send(started + sent * interval, sent >= warmupRequests));
    if (sent < total) setTimeout(tick, 1);
    else resolve();
  };
  tick();
});
await Promise.all(inFlight);
const seconds = (now() - started) / 1000 - (spec.warmupSeconds ?? 0);
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
  warmupRequests,
  warmupSeconds: spec.warmupSeconds ?? 0,
};
process.stdout.write(JSON.stringify(result));
