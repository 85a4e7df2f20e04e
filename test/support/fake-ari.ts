// An in-memory ari-client, for testing the ARI adapter (ivr/ari.ts) without Asterisk, in the
// manner of wazo-calld's mock ARI. FakeAsterisk is the server side: the channels it holds, the
// playbacks running, the websocket of the application. Each `connect` hands out a
// FakeAriClient that behaves as ari-client 2.2 does where the adapter can tell:
// - events reach only the client whose websocket is open and subscribed to the application,
//   as (event JSON, resource) like ari-client's emit;
// - a request on a channel Asterisk no longer has rejects with ari-client's bare
//   `Error: {"message":"Channel not found"}`;
// - `start` opens the websocket and emits WebSocketConnected before it resolves; a dropped
//   websocket emits WebSocketReconnecting, and WebSocketConnected when it comes back; ari-client
//   giving up is WebSocketMaxRetries;
// - `_ws` is the socket the heartbeat pings; a ping is answered with `pong` while Asterisk
//   answers pings; `terminate` drops the socket and ari-client reconnects by itself.
// Event payloads follow Asterisk 22's rest-api/events.json and channels.json.
import { EventEmitter } from 'node:events';
import type { AriClient, AriWebSocket } from '../../ivr/ari.js';

const OPEN = 1;
const CLOSED = 3;

/** A channel as Asterisk 22 serialises it (the fields our parser reads, and a few more). */
export interface ChannelJson {
  id: string;
  name: string;
  state: string;
  caller?: { name: string; number: string };
  dialplan?: { context: string; exten: string; priority: number; app_name: string; app_data: string };
  language: string;
}

/** The cause of the hang-up request ending an INVITE its caller cancelled (chan_pjsip maps 487 to 127). */
const CANCELLED_INVITE_CAUSE = 127;

/** Asterisk echoes a hang-up requested through ARI as a soft hang-up request, cause 32. */
const SOFT_HANGUP_CAUSE = 32;

/** Fields of the events we send that ari-client turns into resource instances (Channel, Playback). */
const RESOURCE_FIELDS = new Set(['channel', 'replace_channel', 'playback']);

export class FakeSocket implements AriWebSocket {
  readyState = OPEN;
  pings = 0;
  constructor(private readonly onPing: () => void, private readonly onTerminate: () => void) {}
  ping(): void {
    // ws throws when pinging a socket that is not open.
    if (this.readyState !== OPEN) throw new Error('WebSocket is not open: readyState 3 (CLOSED)');
    this.pings++;
    this.onPing();
  }
  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.onTerminate();
  }
}

export class FakeAriClient extends EventEmitter implements AriClient {
  app: string | null = null;
  stopped = false;
  _ws?: FakeSocket;
  readonly channels: AriClient['channels'];
  readonly playbacks: AriClient['playbacks'];
  readonly asterisk: AriClient['asterisk'];
  readonly applications: AriClient['applications'];

  constructor(private readonly server: FakeAsterisk) {
    super();
    const s = server;
    this.channels = {
      progress: ({ channelId }) => s.request(`progress ${channelId}`, () => s.channelOf(channelId)),
      answer: ({ channelId }) =>
        s.request(`answer ${channelId}`, () => {
          const channel = s.channelOf(channelId);
          const hangupFirst = s.cancelling.get(channelId);
          if (hangupFirst !== undefined) {
            s.cancelling.delete(channelId);
            return s.answerAfterCancel(channel, hangupFirst);
          }
          channel.state = 'Up';
          s.send('ChannelStateChange', { channel });
        }),
      play: ({ channelId, playbackId, media, lang }) =>
        s.request(`play ${channelId} [${lang}] ${media.join(' ')}`, () => {
          s.channelOf(channelId);
          s.playbacks.set(playbackId, { channelId, media, lang });
          return { id: playbackId, media_uri: media[0], target_uri: `channel:${channelId}`, language: lang, state: 'queued' };
        }),
      hangup: ({ channelId, reason }) => s.request(`hangup ${channelId} ${reason}`, () => s.hangUpFromAri(channelId)),
      list: () => s.request('list', () => [...s.channels.values()].map((c) => structuredClone(c))),
    };
    // Asterisk ends a stopped playback as a finished one (PlaybackFinished, state done).
    this.playbacks = {
      stop: ({ playbackId }) =>
        s.request(`stop playback ${playbackId}`, () => {
          if (!s.playbacks.has(playbackId)) throw new Error('{"message":"Playback not found"}');
          s.finishPlayback(playbackId);
        }),
    };
    // The application's event filter: what the websocket lets through from then on.
    this.applications = {
      filter: ({ applicationName, filter }) =>
        s.request(`filter ${applicationName} ${filter.allowed.map((e) => e.type).join(',')}`, () => {
          if (s.refuseFilter) throw new Error('{"message":"Invalid event filter"}');
          s.allowedEvents = new Set(filter.allowed.map((e) => e.type));
          return { name: applicationName, events_allowed: filter.allowed, events_disallowed: [] };
        }),
    };
    this.asterisk = {
      getInfo: () =>
        s.request('info', () => ({
          build: { os: 'Linux', kernel: '6.1.0', machine: 'x86_64', options: '', date: '', user: 'root' },
          system: { version: '22.5.0', entity_id: s.entityId },
          status: { startup_time: new Date().toISOString(), last_reload_time: new Date().toISOString() },
        })),
    };
  }

  /** Opens the websocket, registering the application; WebSocketConnected comes before the answer, as in ari-client. */
  async start(app: string): Promise<void> {
    this.app = app;
    this._ws = new FakeSocket(
      () => {
        if (this.server.answerPings) setImmediate(() => this.emit('pong'));
      },
      () => {
        // ari-client sees the close and reconnects after its backoff.
        this.emit('WebSocketReconnecting', undefined);
        setTimeout(() => this.reopen(), 5);
      },
    );
    this.emit('WebSocketConnected');
  }

  stop(): void {
    this.stopped = true;
    if (this._ws) this._ws.readyState = CLOSED;
  }

  get open(): boolean {
    return !this.stopped && this._ws?.readyState === OPEN;
  }

  /** The websocket closes under ari-client (Asterisk restarting, network cut). */
  drop(err?: Error): void {
    if (!this._ws || this._ws.readyState === CLOSED) return;
    this._ws.readyState = CLOSED;
    this.emit('WebSocketReconnecting', err);
  }

  /** ari-client's reconnect succeeds. */
  reopen(): void {
    if (this.stopped || !this._ws || this._ws.readyState === OPEN) return;
    this._ws.readyState = OPEN;
    this.emit('WebSocketConnected');
  }

  /** ari-client stops retrying (after ~10 attempts in real life). */
  giveUp(): void {
    this.emit('WebSocketMaxRetries', new Error('Connection attempts exceeded WebSocketMaxRetries. connect ECONNREFUSED'));
  }
}

export class FakeAsterisk {
  readonly entityId = '02:42:ac:11:00:02';
  /** Every client handed out, oldest first. */
  readonly clients: FakeAriClient[] = [];
  /** What Asterisk holds: every channel, ours or not. */
  readonly channels = new Map<string, ChannelJson>();
  /** Playbacks started and not finished yet: playbackId → what plays where. */
  readonly playbacks = new Map<string, { channelId: string; media: string[]; lang: string }>();
  /** Every request received, e.g. `answer c1`, `play c1 [fr] sound:x`. */
  readonly requests: string[] = [];
  /** How many next connections fail (Asterisk unreachable). */
  refuseConnections = 0;
  /** Whether every request fails at once, as when the HTTP side of ARI is unreachable. */
  unreachable = false;
  /** Whether requests never get an answer. */
  stalled = false;
  /** Whether requests are carried out (with their events) but their replies never come: an overloaded Asterisk past our deadline. */
  lostReplies = false;
  answerPings = true;
  /** The application's event filter (allowed types); null: every event goes out. */
  allowedEvents: Set<string> | null = null;
  /** Whether the event filter request is refused (an Asterisk too old for it). */
  refuseFilter = false;
  /**
   * How long events take to reach the websocket, in order (0: at once). The HTTP reply of a
   * request and the events it causes travel separately: with a lag, the reply comes first.
   */
  eventLagMs = 0;
  /** Channels whose caller's CANCEL is crossing the next answer → whether it is taken before the Up (see cancelCrossesAnswer). */
  readonly cancelling = new Map<string, boolean>();

  constructor(readonly app = 'sanscode') {}

  /** The `connect` to give the adapter. */
  readonly connect = async (): Promise<FakeAriClient> => {
    if (this.refuseConnections > 0) {
      this.refuseConnections--;
      throw new Error('connect ECONNREFUSED 127.0.0.1:8088');
    }
    const client = new FakeAriClient(this);
    this.clients.push(client);
    return client;
  };

  /** The newest client. */
  get client(): FakeAriClient {
    const client = this.clients.at(-1);
    if (!client) throw new Error('no client connected');
    return client;
  }

  /** A caller dials `dialed`: the dialplan runs Stasis(<app>,<dialed>). No `caller`: withheld (no number at all). */
  newCall(id: string, dialed: string, caller?: string, app = this.app): ChannelJson {
    const channel: ChannelJson = {
      id,
      name: `PJSIP/carrier-${id}`,
      state: 'Ring',
      ...(caller === undefined ? {} : { caller: { name: '', number: caller } }),
      dialplan: { context: 'premium', exten: dialed, priority: 1, app_name: 'Stasis', app_data: `${app},${dialed}` },
      language: 'fr',
    };
    this.channels.set(id, channel);
    if (app === this.app) this.send('StasisStart', { args: [dialed], channel });
    return channel;
  }

  /**
   * The caller hangs up: a CANCEL or a release carries a Q.850 cause, a BYE after answer none.
   * Asterisk reports the request, then the channel leaving Stasis.
   */
  callerHangsUp(id: string, cause?: number): void {
    const channel = this.channelOf(id);
    this.send('ChannelHangupRequest', { ...(cause === undefined ? {} : { cause }), soft: false, channel });
    this.leave(channel);
  }

  /**
   * The caller's CANCEL reaches Asterisk just as the IVR answers (Asterisk 22 under load).
   * chan_pjsip sets the channel Up, then queues the answer on the SIP session behind the CANCEL:
   * the session ends (487, hang-up request with cause 127), the answer finds it DISCONNECTED,
   * sends no 200 OK, and the request succeeds. Events: Up, hang-up request, StasisEnd (seen on
   * Asterisk 22.10). `hangupFirst`: the CANCEL is taken before the channel is set Up (the
   * hang-up request comes first).
   */
  cancelCrossesAnswer(id: string, opts: { hangupFirst?: boolean } = {}): void {
    this.channelOf(id);
    this.cancelling.set(id, opts.hangupFirst ?? false);
  }

  /** The answer request on a channel whose CANCEL came first (see cancelCrossesAnswer). */
  answerAfterCancel(channel: ChannelJson, hangupFirst: boolean): void {
    if (hangupFirst) this.send('ChannelHangupRequest', { cause: CANCELLED_INVITE_CAUSE, channel });
    channel.state = 'Up';
    this.send('ChannelStateChange', { channel });
    if (!hangupFirst) this.send('ChannelHangupRequest', { cause: CANCELLED_INVITE_CAUSE, channel });
    this.leave(channel);
  }

  /** Asterisk reports the end of a playback (`done`, or `failed` when a file is missing). */
  finishPlayback(playbackId: string, state: 'done' | 'failed' = 'done'): void {
    const p = this.playbacks.get(playbackId);
    if (!p) throw new Error(`no playback ${playbackId}`);
    this.playbacks.delete(playbackId);
    const playback = { id: playbackId, media_uri: p.media[0], target_uri: `channel:${p.channelId}`, language: p.lang, state };
    this.send('PlaybackFinished', { playback });
  }

  /** The ids of the playbacks running on `channelId`. */
  playbacksOf(channelId: string): string[] {
    return [...this.playbacks].filter(([, p]) => p.channelId === channelId).map(([id]) => id);
  }

  /**
   * Emits an event to the client subscribed to the application, as ari-client does: the event
   * JSON, then the resource it carries (a channel, a playback), or a map of them when there are
   * several. Lost when no websocket is open (Asterisk does not queue events).
   */
  send(type: string, fields: Record<string, unknown>): boolean {
    if (this.eventLagMs > 0) {
      // Timers of one duration fire in the order they were set: events keep their order.
      const snapshot = structuredClone(fields);
      setTimeout(() => this.emitNow(type, snapshot), this.eventLagMs);
      return true;
    }
    return this.emitNow(type, fields);
  }

  private emitNow(type: string, fields: Record<string, unknown>): boolean {
    const subscriber = [...this.clients].reverse().find((c) => c.app === this.app && c.open);
    if (!subscriber) return false;
    if (this.allowedEvents && !this.allowedEvents.has(type)) return false;
    const event = structuredClone({ type, application: this.app, timestamp: new Date().toISOString(), asterisk_id: this.entityId, ...fields });
    const carried = Object.entries(event).filter(([key]) => RESOURCE_FIELDS.has(key));
    const resources = carried.length === 1 ? structuredClone(carried[0]![1]) : carried.length > 1 ? structuredClone(Object.fromEntries(carried)) : undefined;
    subscriber.emit(type, event, resources);
    return true;
  }

  channelOf(id: string): ChannelJson {
    const channel = this.channels.get(id);
    if (!channel) throw new Error('{"message":"Channel not found"}');
    return channel;
  }

  /** One ARI request, answered on a later tick as over HTTP. */
  request<T>(line: string, carryOut: () => T): Promise<T> {
    this.requests.push(line);
    if (this.stalled) return new Promise<T>(() => {});
    return new Promise<T>((resolve, reject) =>
      setImmediate(() => {
        if (this.unreachable) return reject(new Error('connect ECONNREFUSED 127.0.0.1:8088'));
        try {
          const result = carryOut();
          if (!this.lostReplies) resolve(result);
        } catch (err) {
          reject(err as Error);
        }
      }),
    );
  }

  hangUpFromAri(id: string): void {
    const channel = this.channelOf(id);
    // Reported after the answer, as the websocket and HTTP are separate.
    setImmediate(() => {
      if (!this.channels.has(id)) return; // the caller was quicker
      this.send('ChannelHangupRequest', { cause: SOFT_HANGUP_CAUSE, soft: true, channel });
      this.leave(channel);
    });
  }

  private leave(channel: ChannelJson): void {
    if (!this.channels.delete(channel.id)) return;
    // Asterisk stops what played on the channel; no PlaybackFinished reaches the app once it
    // has left Stasis, so the adapter must settle those plays itself at StasisEnd.
    for (const id of this.playbacksOf(channel.id)) this.playbacks.delete(id);
    const app = channel.dialplan?.app_data.split(',')[0];
    if (app === this.app) this.send('StasisEnd', { channel });
  }
}
