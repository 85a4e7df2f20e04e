// The ARI client as the adapter (ivr/ari.ts) sees it, and what opens the real one: ari-client
// for the websocket, and the REST requests the call flow sends (progress, answer, play, stop,
// hang up, list, the event filter) over Node's own HTTP client with kept-alive connections,
// instead of ari-client's swagger-client.
//
// Why: the 183 is the first thing a caller's network hears from us, and its request is on
// that path. swagger-client 2 builds each request from the API description (parameter walk,
// URL templating, its own HTTP layer): in a probe on the real Asterisk (2026-12-07), 0.70-0.77
// ms from a StasisStart handler to the request's write on the socket, against 0.28-0.34 ms for
// Node's http.request (docs/performance.md). ari-client still carries the websocket (events,
// reconnects); only the REST half is replaced.
//
// Errors keep ari-client's wording, an Error whose message is Asterisk's body
// (`{"message":"Channel not found"}`), so that the adapter's tests and its "channel gone"
// check (ivr/ari.ts) read both alike.
import http from 'node:http';
import ari from 'ari-client';
import type { Language, Media } from '../domain/index.js';
import type { HangupReason } from './telephony.js';

/** ari-client's websocket (a `ws` WebSocket), as the heartbeat uses it. */
export interface AriWebSocket {
  readonly readyState: number;
  ping(): void;
  terminate(): void;
}

/**
 * The Asterisk events the adapter listens to; their payloads are parsed in ivr/ari-payloads.ts.
 * The application's event filter lets only these through: Asterisk otherwise also sends each
 * call PlaybackStarted per play and ChannelVarset per variable set at hang-up (13 events for a
 * call with two plays on Asterisk 22, 6 with the filter), each serialised by Asterisk and
 * parsed, and turned into resource objects by ari-client.
 */
export const ARI_EVENTS = ['StasisStart', 'StasisEnd', 'ChannelHangupRequest', 'ChannelStateChange', 'PlaybackFinished', 'ChannelDtmfReceived'] as const;
export type AriEventName = (typeof ARI_EVENTS)[number];

/**
 * The part of ari-client's Client the adapter uses (connectAri builds one over it), so that tests
 * can hand it an in-memory double (test/support/fake-ari.ts). Event payloads and answers are
 * `unknown` on purpose: nothing from Asterisk is read before it is parsed.
 */
export interface AriClient {
  on(event: AriEventName, listener: (event: unknown) => void): void;
  on(event: 'WebSocketConnected' | 'WebSocketMaxRetries' | 'pong', listener: () => void): void;
  /** ari-client passes the socket's error, or nothing when the socket just closed. */
  on(event: 'WebSocketReconnecting', listener: (err: Error | undefined) => void): void;
  start(app: string): Promise<void>;
  stop(): void;
  removeAllListeners(): unknown;
  eventNames(): (string | symbol)[];
  listenerCount(event: string | symbol): number;
  channels: {
    progress(params: { channelId: string }): Promise<unknown>;
    answer(params: { channelId: string }): Promise<unknown>;
    play(params: { channelId: string; playbackId: string; media: Media; lang: Language }): Promise<unknown>;
    hangup(params: { channelId: string; reason: HangupReason }): Promise<unknown>;
    list(): Promise<unknown>;
  };
  playbacks: { stop(params: { playbackId: string }): Promise<unknown> };
  applications: { filter(params: { applicationName: string; filter: { allowed: { type: string }[] } }): Promise<unknown> };
  asterisk: { getInfo(): Promise<unknown> };
  /**
   * ari-client 2.2's private websocket (`self._ws` in lib/client.js, absent from its typings),
   * unset before start(). Only the heartbeat reads it: ari-client's own ping() neither says
   * whether the socket is open nor can drop a dead one. The one use of ari-client internals.
   */
  readonly _ws?: AriWebSocket;
}

/** Opens an ARI client; connectAri below by default, an in-memory double in tests. */
export type AriConnect = (url: string, username: string, password: string) => Promise<AriClient>;

/** Longest answer body read (a channel list of a busy node is a few hundred KiB). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * How long a kept-alive connection may sit idle before we close it. Asterisk closes an idle
 * HTTP session after its http.conf `session_keep_alive` (15000 ms in Asterisk 22's sample) and
 * says nothing of it in its answers (no Keep-Alive header for Node to follow): a request
 * written just as Asterisk closes the socket would fail with a reset. Closing first, well
 * before, avoids that race, at the price of one TCP handshake after 10 s without a request.
 */
export const IDLE_SOCKET_MS = 10_000;

export class AriRest {
  private readonly agent: http.Agent;
  private readonly base: URL;
  private readonly authorization: string;

  constructor(url: string, username: string, password: string, opts: { idleSocketMs?: number } = {}) {
    // The agent's timeout closes idle (free) sockets only; a request under way keeps its socket
    // and has the adapter's own deadline (ivr/ari.ts).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: opts.idleSocketMs ?? IDLE_SOCKET_MS });
    this.base = new URL(url);
    this.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  readonly channels: AriClient['channels'] = {
    progress: ({ channelId }) => this.send('POST', `/channels/${enc(channelId)}/progress`),
    answer: ({ channelId }) => this.send('POST', `/channels/${enc(channelId)}/answer`),
    play: ({ channelId, playbackId, media, lang }: { channelId: string; playbackId: string; media: Media; lang: Language }) =>
      // ARI takes several media as one comma-separated value, as ari-client sends them.
      this.send('POST', `/channels/${enc(channelId)}/play/${enc(playbackId)}?media=${enc(media.join(','))}&lang=${enc(lang)}`),
    hangup: ({ channelId, reason }: { channelId: string; reason: HangupReason }) => this.send('DELETE', `/channels/${enc(channelId)}?reason=${enc(reason)}`),
    list: () => this.send('GET', '/channels'),
  };

  readonly playbacks: AriClient['playbacks'] = {
    stop: ({ playbackId }) => this.send('DELETE', `/playbacks/${enc(playbackId)}`),
  };

  readonly applications: AriClient['applications'] = {
    // ARI's body is the filter itself (`{"allowed": [...]}`), as ari-client sends it.
    filter: ({ applicationName, filter }) => this.send('PUT', `/applications/${enc(applicationName)}/eventFilter`, filter),
  };

  readonly asterisk: AriClient['asterisk'] = {
    getInfo: () => this.send('GET', '/asterisk/info'),
  };

  /** Closes the kept-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  /** One request; resolves Asterisk's JSON answer (undefined for 204), rejects with its message. */
  private send(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port,
          method,
          path: `/ari${path}`,
          headers: payload === undefined ? { authorization: this.authorization } : { authorization: this.authorization, 'content-type': 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) return req.destroy(new Error(`ARI answer larger than ${MAX_BODY_BYTES} bytes`));
            chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return reject(new Error(body || `HTTP ${status}`));
            if (!body) return resolve(undefined);
            try {
              resolve(JSON.parse(body));
            } catch {
              reject(new Error(`HTTP ${status}: an answer that is not JSON`));
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function enc(value: string): string {
  return encodeURIComponent(value);
}

/**
 * Opens ARI: ari-client for the websocket and its events, AriRest for every request. The
 * returned client forwards the websocket side to ari-client's own object (its `_ws` included,
 * read live for the heartbeat).
 */
export const connectAri: AriConnect = async (url, username, password) => {
  const client = (await ari.connect(url, username, password)) as unknown as AriClient;
  const rest = new AriRest(url, username, password);
  return {
    on: client.on.bind(client) as AriClient['on'],
    start: (app) => client.start(app),
    stop: () => {
      rest.close();
      client.stop();
    },
    removeAllListeners: () => client.removeAllListeners(),
    eventNames: () => client.eventNames(),
    listenerCount: (event) => client.listenerCount(event),
    get _ws() {
      return client._ws;
    },
    channels: rest.channels,
    playbacks: rest.playbacks,
    applications: rest.applications,
    asterisk: rest.asterisk,
  };
};
