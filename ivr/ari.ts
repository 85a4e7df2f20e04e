// Telephony over Asterisk ARI with ari-client 2.2.0, kept thin: it turns ARI events into
// callStarted/callEnded and exposes the handful of channel operations the call flow uses.
//
// What ari-client does not do and this module adds:
// - reconnect forever: ari-client gives up after ~10 tries (WebSocketMaxRetries); we start
//   again with capped exponential backoff, which also re-registers the Stasis application;
// - heartbeat: ari-client never pings; a websocket that dies silently would leave the app
//   unregistered and every premium call failing over to the dialplan fallback;
// - no per-call listeners: ari-client never releases `channel.on` handlers, so all events are
//   handled by a few client-level listeners dispatching on ids held in small maps that are
//   emptied when the channel ends.
import { randomUUID } from 'node:crypto';
import ari from 'ari-client';
import type { Logger } from 'pino';
import type { Media } from '../domain/index.js';
import type { HangupReason, IncomingCall, Telephony, TelephonyEvents } from './telephony.js';

// @types/ari-client predates these calls; ari-client itself builds them from Asterisk's API.
declare module 'ari-client' {
  interface Channels {
    progress(params: { channelId: string }): Promise<void>;
  }
}

export interface AriOptions {
  url: string;
  username: string;
  password: string;
  app: string;
  /** Heartbeat period; the link is declared dead after two periods without a pong. */
  pingMs?: number;
  maxBackoffMs?: number;
}

/** The subset of a channel's JSON we read. */
interface ChannelJson {
  id: string;
  caller?: { number?: string };
  dialplan?: { exten?: string; app_name?: string; app_data?: string };
}

export class AriTelephony implements Telephony {
  private client: ari.Client | null = null;
  private asteriskId: string | null = null;
  private stopped = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastPong = Date.now();
  /** playbackId → [channelId, resolve] for plays awaiting PlaybackFinished. */
  private readonly playbacks = new Map<string, { channelId: string; done: () => void }>();
  /**
   * Our channels, from StasisStart to StasisEnd, with the hang-up cause once known. An ARI app
   * never receives ChannelDestroyed for its channels unless it subscribes to each one, so the
   * cause comes from ChannelHangupRequest (caller side) or from the reason we hung up with.
   */
  private readonly active = new Map<string, { cause: number | null; causeText: string | null }>();

  private events: TelephonyEvents | null = null;

  constructor(
    private readonly opts: AriOptions,
    private readonly log: Logger,
  ) {}

  /** Connects and keeps connected until stop(). Resolves after the first successful start. */
  async start(events: TelephonyEvents): Promise<void> {
    this.events = events;
    await this.connectWithBackoff();
  }

  private async connectWithBackoff(): Promise<void> {
    let delay = 500;
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message, attempt, retryInMs: delay }, 'ARI connection failed');
        await sleep(delay);
        delay = Math.min(delay * 2, this.opts.maxBackoffMs ?? 15_000);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.active.clear();
    try {
      this.client?.stop();
    } catch {
      // already closed
    }
    this.client = null;
  }

  private async connectOnce(): Promise<void> {
    const client = await ari.connect(this.opts.url, this.opts.username, this.opts.password);
    if (this.stopped) return;
    this.client = client;
    client.on('StasisStart', (event, channel) => this.onStasisStart(event as unknown as { args?: string[]; asterisk_id?: string }, channel as unknown as ChannelJson));
    client.on('ChannelHangupRequest', (event, channel) => {
      const e = event as unknown as { cause?: number; soft?: boolean };
      const call = this.active.get((channel as unknown as ChannelJson).id);
      // A soft request is our own hang-up echoed back (cause 32): keep the reason we gave.
      if (call && call.cause === null && e.cause !== undefined && !e.soft) {
        call.cause = e.cause;
        call.causeText = Q850[e.cause] ?? null;
      }
    });
    client.on('StasisEnd', (_event, channel) => this.onStasisEnd((channel as unknown as ChannelJson).id));
    client.on('PlaybackFinished', (_event, playback) => this.settlePlayback((playback as unknown as { id: string }).id));
    client.on('pong', () => (this.lastPong = Date.now()));
    client.on('WebSocketConnected', () => {
      if (this.client === client && !this.stopped) void this.onConnected();
    });
    client.on('WebSocketReconnecting', (err) => this.log.warn({ err: (err as Error | undefined)?.message }, 'ARI websocket lost, reconnecting'));
    client.on('WebSocketMaxRetries', () => {
      this.log.error('ARI websocket gave up; starting over');
      this.restart(client);
    });
    await client.start(this.opts.app);
    this.startHeartbeat(client);
  }

  /** Throws the client away and connects anew (used when ari-client stops retrying). */
  private restart(old: ari.Client): void {
    clearInterval(this.heartbeat);
    (old as unknown as { removeAllListeners(): void }).removeAllListeners();
    try {
      old.stop();
    } catch {
      // the websocket is already gone
    }
    if (this.client === old) this.client = null;
    if (!this.stopped) void this.connectWithBackoff();
  }

  private startHeartbeat(client: ari.Client): void {
    const period = this.opts.pingMs ?? 5_000;
    clearInterval(this.heartbeat);
    this.lastPong = Date.now();
    this.heartbeat = setInterval(() => {
      const ws = (client as unknown as { _ws?: { readyState: number; ping(): void; terminate(): void } })._ws;
      // While ari-client is between reconnect attempts the socket is closed: its ping() would
      // throw from this timer and take the process down. Nothing to watch until it reopens.
      if (!ws || ws.readyState !== 1) {
        this.lastPong = Date.now();
        return;
      }
      if (Date.now() - this.lastPong > 2 * period) {
        this.log.warn('ARI heartbeat lost; dropping the websocket to reconnect');
        // Terminating makes ari-client see a close and run its own reconnect.
        ws.terminate();
        this.lastPong = Date.now();
        return;
      }
      try {
        ws.ping();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'ARI ping failed');
      }
    }, period);
    this.heartbeat.unref();
  }

  private async onConnected(): Promise<void> {
    try {
      const info = (await this.client!.asterisk.getInfo()) as unknown as { system?: { entity_id?: string } };
      this.asteriskId = info.system?.entity_id ?? null;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not read the Asterisk entity id');
    }
    this.log.info({ app: this.opts.app, asteriskId: this.asteriskId }, 'ARI connected');
    this.events!.connected(this.asteriskId);
  }

  private onStasisStart(event: { args?: string[]; asterisk_id?: string }, channel: ChannelJson): void {
    if (event.asterisk_id) this.asteriskId = event.asterisk_id;
    this.active.set(channel.id, { cause: null, causeText: null });
    this.events!.callStarted(this.incoming(channel, event.args?.[0], event.asterisk_id ?? this.asteriskId));
  }

  private incoming(channel: ChannelJson, firstArg: string | undefined, asteriskId: string | null): IncomingCall {
    return {
      channelId: channel.id,
      asteriskId,
      dialedRaw: firstArg ?? channel.dialplan?.exten ?? '',
      callerRaw: channel.caller?.number ?? '',
    };
  }

  private onStasisEnd(channelId: string): void {
    this.releasePlaybacks(channelId);
    const call = this.active.get(channelId);
    if (!call) return; // not one of ours
    this.active.delete(channelId);
    // A caller's BYE after answer carries no cause: that is a normal clearing.
    const cause = call.cause ?? 16;
    this.events!.callEnded({ channelId, cause, causeText: call.causeText ?? Q850[cause] ?? null });
  }

  private settlePlayback(playbackId: string): void {
    const p = this.playbacks.get(playbackId);
    if (!p) return;
    this.playbacks.delete(playbackId);
    p.done();
  }

  private releasePlaybacks(channelId: string): void {
    for (const [id, p] of this.playbacks) if (p.channelId === channelId) this.settlePlayback(id);
  }

  /** Per-call bookkeeping still held; both are 0 when no call is up (tests check for leaks). */
  get heldState(): { channels: number; playbacks: number; listeners: number } {
    const c = this.client as unknown as { eventNames?: () => (string | symbol)[]; listenerCount?: (e: string | symbol) => number } | null;
    const listeners = c?.eventNames?.().reduce((n, e) => n + (c.listenerCount?.(e) ?? 0), 0) ?? 0;
    return { channels: this.active.size, playbacks: this.playbacks.size, listeners };
  }

  private api(): ari.Client {
    if (!this.client) throw new Error('ARI is not connected');
    return this.client;
  }

  async progress(channelId: string): Promise<void> {
    await this.api().channels.progress({ channelId });
  }

  async answer(channelId: string): Promise<void> {
    await this.api().channels.answer({ channelId });
  }

  async play(channelId: string, media: Media, language: 'fr' | 'en'): Promise<void> {
    const playbackId = randomUUID();
    const finished = new Promise<void>((done) => this.playbacks.set(playbackId, { channelId, done }));
    try {
      await this.api().channels.play({ channelId, playbackId, media, lang: language });
    } catch (err) {
      this.playbacks.delete(playbackId);
      throw err;
    }
    return finished;
  }

  async hangup(channelId: string, reason: HangupReason): Promise<void> {
    const call = this.active.get(channelId);
    if (call && call.cause === null) {
      call.cause = REASON_CAUSE[reason];
      call.causeText = Q850[call.cause] ?? null;
    }
    await this.api().channels.hangup({ channelId, reason });
  }

  async liveCalls(): Promise<IncomingCall[]> {
    const channels = (await this.api().channels.list()) as unknown as ChannelJson[];
    const prefix = `${this.opts.app},`;
    const ours = channels.filter((c) => c.dialplan?.app_name === 'Stasis' && (c.dialplan.app_data ?? '').startsWith(prefix));
    for (const c of ours) if (!this.active.has(c.id)) this.active.set(c.id, { cause: null, causeText: null });
    return ours.map((c) => this.incoming(c, c.dialplan!.app_data!.slice(prefix.length).split(',')[0], this.asteriskId));
  }
}

/** Q.850 cause for each ARI hang-up reason (what Asterisk signals: 486, 503, 603...). */
const REASON_CAUSE: Record<HangupReason, number> = { normal: 16, busy: 17, no_answer: 19, congestion: 34 };
const Q850: Record<number, string> = {
  16: 'Normal Clearing',
  17: 'User busy',
  19: 'No answer',
  34: 'Circuit/channel congestion',
  127: 'Interworking, unspecified',
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
