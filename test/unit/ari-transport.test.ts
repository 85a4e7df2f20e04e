// The ARI REST requests (ivr/ari-transport.ts) against a small HTTP server standing in for
// Asterisk's: the paths, methods and query strings Asterisk 22's rest-api documents, the basic
// authorization, answers read as JSON, failures worded as ari-client words them (the body), and
// one kept-alive connection for consecutive requests. The same requests against the real
// Asterisk run in every test/e2e file.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AriRest } from '../../ivr/ari-transport.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
  socket: number;
}

const seen: Seen[] = [];
let server: http.Server;
let rest: AriRest;
const sockets = new WeakMap<object, number>();

beforeAll(async () => {
  let nextSocket = 0;
  server = http.createServer((req, res) => {
    if (!sockets.has(req.socket)) sockets.set(req.socket, nextSocket++);
    const entry: Seen = { method: req.method!, url: req.url!, authorization: req.headers.authorization, contentType: req.headers['content-type'], body: '', socket: sockets.get(req.socket)! };
    seen.push(entry);
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (entry.body += chunk));
    // Answered once the whole request is read, as Asterisk does.
    req.on('end', () => answer(req, res));
  });
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url?.startsWith('/ari/channels/gone')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Channel not found"}');
    } else if (req.url === '/ari/channels') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('[{"id":"c1","name":"PJSIP/carrier-1"}]');
    } else if (req.url === '/ari/asterisk/info') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"system":{"entity_id":"02:42"}}');
    } else if (req.url?.includes('/play/')) {
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"p1","state":"queued"}');
    } else if (req.url?.startsWith('/ari/channels/slow')) {
      setTimeout(() => res.writeHead(204).end(), 300);
    } else if (req.url?.startsWith('/ari/channels/broken')) {
      res.writeHead(500).end();
    } else {
      res.writeHead(204).end();
    }
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rest = new AriRest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'sanscode', 's3cret');
});

afterAll(async () => {
  rest.close();
  await new Promise((resolve) => server.close(resolve));
});

describe('ARI REST requests', () => {
  it('sends each verb to the path Asterisk documents, with basic authorization', async () => {
    seen.length = 0;
    expect(await rest.channels.progress({ channelId: '1764191409.12' })).toBeUndefined();
    await rest.channels.answer({ channelId: '1764191409.12' });
    expect(await rest.channels.play({ channelId: '1764191409.12', playbackId: 'p1', media: ['sound:sanscode/greeting', 'digits:2'], lang: 'fr' })).toEqual({ id: 'p1', state: 'queued' });
    await rest.playbacks.stop({ playbackId: 'p1' });
    await rest.channels.hangup({ channelId: '1764191409.12', reason: 'congestion' });
    expect(await rest.channels.list()).toEqual([{ id: 'c1', name: 'PJSIP/carrier-1' }]);
    expect(await rest.asterisk.getInfo()).toEqual({ system: { entity_id: '02:42' } });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /ari/channels/1764191409.12/progress',
      'POST /ari/channels/1764191409.12/answer',
      // Several media go as one comma-separated value, as ari-client sends them.
      'POST /ari/channels/1764191409.12/play/p1?media=sound%3Asanscode%2Fgreeting%2Cdigits%3A2&lang=fr',
      'DELETE /ari/playbacks/p1',
      'DELETE /ari/channels/1764191409.12?reason=congestion',
      'GET /ari/channels',
      'GET /ari/asterisk/info',
    ]);
    expect(new Set(seen.map((s) => s.authorization))).toEqual(new Set([`Basic ${Buffer.from('sanscode:s3cret').toString('base64')}`]));
  });

  it("sets the application's event filter with the filter as the JSON body, as Asterisk documents it", async () => {
    seen.length = 0;
    await rest.applications.filter({ applicationName: 'sanscode', filter: { allowed: [{ type: 'StasisStart' }, { type: 'StasisEnd' }] } });
    expect(seen).toMatchObject([{ method: 'PUT', url: '/ari/applications/sanscode/eventFilter', contentType: 'application/json' }]);
    expect(JSON.parse(seen[0]!.body)).toEqual({ allowed: [{ type: 'StasisStart' }, { type: 'StasisEnd' }] });
  });

  it('keeps one connection open for requests sent one after another', async () => {
    seen.length = 0;
    for (let i = 0; i < 5; i++) await rest.channels.progress({ channelId: `c${i}` });
    expect(new Set(seen.map((s) => s.socket)).size).toBe(1);
  });

  it('closes an idle connection itself, before Asterisk would, and opens a new one for the next request', async () => {
    const quick = new AriRest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'sanscode', 's3cret', { idleSocketMs: 100 });
    seen.length = 0;
    await quick.channels.progress({ channelId: 'c1' });
    const [first] = seen;
    await new Promise((resolve) => setTimeout(resolve, 300));
    await quick.channels.progress({ channelId: 'c2' });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.socket).not.toBe(first!.socket);
    quick.close();
  });

  it('keeps a slow answer\'s connection past the idle time: only idle sockets are closed', async () => {
    const quick = new AriRest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'sanscode', 's3cret', { idleSocketMs: 100 });
    await expect(quick.channels.answer({ channelId: 'slow' })).resolves.toBeUndefined();
    quick.close();
  });

  it('rejects with Asterisk\'s own message, as ari-client does, so a gone channel reads as gone', async () => {
    await expect(rest.channels.answer({ channelId: 'gone' })).rejects.toThrow('{"message":"Channel not found"}');
  });

  it('rejects a failure without a body with its status, and a closed server with the socket error', async () => {
    await expect(rest.channels.answer({ channelId: 'broken' })).rejects.toThrow('HTTP 500');
    const nobody = new AriRest('http://127.0.0.1:9', 'a', 'b');
    await expect(nobody.channels.progress({ channelId: 'c' })).rejects.toThrow(/ECONNREFUSED/);
    nobody.close();
  });
});
