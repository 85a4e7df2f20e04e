// The load generator: autocannon in a process of its own (started by bench/lib.ts runLoad),
// so that the server under test never shares its event loop with the client. Prints one JSON
// LoadResult on stdout.
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './lib.js';

const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
let sent = 0;

function run(seconds: number): Promise<autocannon.Result> {
  const template = spec.bodyTemplate;
  return autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    method: spec.method ?? 'GET',
    headers: { ...spec.headers, ...(template ? { 'content-type': 'application/json' } : {}) },
    // A body unique to each request (e.g. a new buyer per purchase), built as it is sent.
    ...(template ? { requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: template.replaceAll('{{n}}', String(sent++).padStart(6, '0')) }) }] } : {}),
  });
}

const r = await run(spec.seconds);
const result: LoadResult = {
  requests: r.requests.total,
  seconds: r.duration,
  opsPerSec: r.requests.total / r.duration,
  p50Ms: r.latency.p50,
  p90Ms: r.latency.p90,
  p99Ms: r.latency.p99,
  maxMs: r.latency.max,
  non2xx: r.non2xx,
  errors: r.errors,
  timeouts: r.timeouts,
};
process.stdout.write(JSON.stringify(result));
