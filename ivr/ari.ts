// Telephony over Asterisk ARI, kept thin: it turns ARI events into callStarted/callEnded and
// exposes the handful of channel operations the call flow uses. ivr/ari-transport.ts opens the
// connection: ari-client 2.2.0 for the websocket, Node's HTTP for the requests.
//
// What ari-client does not do and this module adds:
// - reconnect forever: ari-client gives up after ~10 tries (WebSocketMaxRetries); we start
//   again with capped exponential backoff, which also re-registers the Stasis application;
// - heartbeat: ari-client never pings; a websocket that dies silently would leave the app
//   unregistered and every premium call failing over to the dialplan fallback;
// - no per-call listeners: ari-client never releases `channel.on` handlers, so all events are
//   handled by a few client-level listeners dispatching on ids held in small maps that are
//   emptied when the channel ends;
// - no request waits forever and none escapes untagged: each has a deadline, and its failure
//   becomes a TelephonyError naming the channel (ari-client rejects with a bare
//   `Error: {"message":"Channel not found"}`);
// - an answer is known from Asterisk's ChannelStateChange (Up) as well as from the request's
//   reply: an overloaded Asterisk may carry the answer out and reply after our deadline, and a
//   caller it answered is billed, so the flow must go on as answered, never hang up on them as
//   if refused (measured: 322 answer requests timed out at 20-32 calls/s);
// - a CANCEL crossing the answer is found out: Asterisk then reports the channel Up and
//   replies success, but sends no 200 OK (see cancelCrossedAnswer), and the call's end says so;
// - a playback always settles: finished (PlaybackFinished), cancelled (the call ended or the
//   flow gave up on it), or failed (refused, or its end was lost with the websocket); one the
//   flow gives up on while the call goes on is also stopped in Asterisk, so the next sound
//   never queues behind it (a hold sound cut by an announcement).
//
// Every event and answer is parsed (ivr/ari-payloads.ts) before it is read. The mapping from
// ARI to the Telephony contract (causes, live channels, incoming calls) is plain functions at
// the end of this file; test/unit/ari.test.ts drives the class over an in-memory ari-client.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Language, Media } from '../domain/index.js';
import {
  parseAsteriskInfo,
  parseChannelList,
  parseChannelStateChange,
  parseHangupRequest,
  parsePlaybackFinished,
  parseStasisEnd,
  parseStasisStart,
  parseDtmfReceived,
  type AriChannel,
  type AriHangupRequest,
  type AriStasisStart,
} from './ari-payloads.js';
import { ARI_EVENTS, connectAri, type AriClient, type AriConnect, type AriEventName } from './ari-transport.js';
export { ARI_EVENTS } from './ari-transport.js';
export type { AriClient, AriConnect, AriEventName, AriWebSocket } from './ari-transport.js';
import { TelephonyError, type HangupInfo, type HangupReason, type IncomingCall, type PlayResult, type Telephony, type TelephonyEvents } from './telephony.js';

export interface AriOptions {
  url: string;
  username: string;
  password: string;
  app: string;
  /** Heartbeat period; the link is declared dead after two periods without a pong. */
  pingMs?: number;
  maxBackoffMs?: number;
  /** Deadline of each ARI request; past it the request counts as failed. */
  requestTimeoutMs?: number;
  /**
   * After an answer request failed without a reply saying the channel is gone (deadline,
   * connection), how long to go on waiting for Asterisk to report the channel Up: the request
   * may still be carried out. Default: the request deadline.
   */
  answerGraceMs?: number;
}

export class AriTelephony implements Telephony {
  private client: AriClient | null = null;
  private asteriskId: string | null = null;
  private stopped = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastPong = Date.now();
  /** playbackId → the play awaiting its end, and how to settle it. */
  private readonly playbacks = new Map<string, { channelId: string; settle: (result: PlayResult) => void }>();
  /**
   * Our channels, from StasisStart to StasisEnd, with the hang-up cause once known. An ARI app
   * never receives ChannelDestroyed for its channels unless it subscribes to each one, so the
   * cause comes from ChannelHangupRequest (caller side) or from the reason we hung up with.
   */
  private readonly active = new Map<string, ActiveChannel>();

  /** channelId → the nextDigit awaiting a key on it (one at a time per channel). */
  private readonly digitWaiters = new Map<string, (digit: string | null) => void>();

  private events: TelephonyEvents | null = null;

  constructor(
    private readonly opts: AriOptions,
    private readonly log: Logger,
    private readonly connect: AriConnect = connectAri,
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
    this.settleUpWaiters();
    this.active.clear();
    this.failPlaybacks();
    try {
      this.client?.stop();
    } catch {
      // already closed
    }
    this.client = null;
  }

  private async connectOnce(): Promise<void> {
    const client = await this.connect(this.opts.url, this.opts.username, this.opts.password);
    if (this.stopped) return;
    this.client = client;
    this.listen(client, 'StasisStart', parseStasisStart, (event) => this.onStasisStart(event));
    this.listen(client, 'ChannelHangupRequest', parseHangupRequest, (event) => {
      const call = this.active.get(event.channel.id);
      if (!call) return;
      if (call.cause === null) call.cause = requestedCause(event);
      if (!call.up) endedBeforeUp(call);
      else if (!call.answerCrossed && cancelCrossedAnswer(event, Date.now() - (call.upAt ?? 0))) {
        call.answerCrossed = true;
        this.log.warn({ channelId: event.channel.id }, "the caller's CANCEL crossed the answer: Asterisk reported the channel Up but sent no 200 OK; recorded as not answered");
      }
    });
    this.listen(client, 'ChannelStateChange', parseChannelStateChange, ({ channel }) => {
      const call = this.active.get(channel.id);
      if (!call || channel.state !== 'Up' || call.up) return;
      if (call.endedBeforeUp) {
        // The CANCEL ended the SIP session before chan_pjsip set the channel Up: its answer
        // then finds the session DISCONNECTED and sends no 200 OK. Nobody is billed.
        this.log.info({ channelId: channel.id }, 'channel reported Up after its hang-up request: nobody was answered');
        return;
      }
      call.up = true;
      call.upAt = Date.now();
      call.upWaiter?.(true);
      this.events?.callAnswered?.(channel.id);
    });
    this.listen(client, 'StasisEnd', parseStasisEnd, (event) => this.onStasisEnd(event.channel.id));
    this.listen(client, 'PlaybackFinished', parsePlaybackFinished, ({ playback }) => {
      this.settlePlayback(playback.id, playback.state === 'failed' ? 'failed' : 'finished');
    });
    this.listen(client, 'ChannelDtmfReceived', parseDtmfReceived, ({ digit, channel }) => this.digitWaiters.get(channel.id)?.(digit));
    client.on('pong', () => (this.lastPong = Date.now()));
    client.on('WebSocketConnected', () => {
      if (this.client === client && !this.stopped) void this.onConnected();
    });
    client.on('WebSocketReconnecting', (err) => {
      this.log.warn({ err: err?.message }, 'ARI websocket lost, reconnecting');
      this.events?.disconnected?.();
      // Events sent while we are away are lost: a playback's end would never be seen, nor an Up.
      this.failPlaybacks();
      this.settleUpWaiters();
    });
    client.on('WebSocketMaxRetries', () => {
      this.log.error('ARI websocket gave up; starting over');
      this.restart(client);
    });
    await client.start(this.opts.app);
    this.startHeartbeat(client);
  }

  /** Throws the client away and connects anew (used when ari-client stops retrying). */
  private restart(old: AriClient): void {
    clearInterval(this.heartbeat);
    this.events?.disconnected?.();
    this.failPlaybacks();
    this.settleUpWaiters();
    old.removeAllListeners();
    try {
      old.stop();
    } catch {
      // the websocket is already gone
    }
    if (this.client === old) this.client = null;
    if (!this.stopped) void this.connectWithBackoff();
  }

  private startHeartbeat(client: AriClient): void {
    const period = this.opts.pingMs ?? 5_000;
    clearInterval(this.heartbeat);
    this.lastPong = Date.now();
    this.heartbeat = setInterval(() => {
      const ws = client._ws;
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
    // Set at each connection, so that it holds after anything Asterisk went through meanwhile
    // (a restart). Without it the calls work the same, with more events to skip.
    try {
      await this.request(null, 'event filter', (c) => c.applications.filter({ applicationName: this.opts.app, filter: { allowed: ARI_EVENTS.map((type) => ({ type })) } }));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not set the ARI event filter; every event will be received');
    }
    try {
      const info = parseAsteriskInfo(await this.request(null, 'asterisk info', (c) => c.asterisk.getInfo()));
      this.asteriskId = info?.system?.entity_id ?? null;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not read the Asterisk entity id');
    }
    this.log.info({ app: this.opts.app, asteriskId: this.asteriskId }, 'ARI connected');
    this.events!.connected(this.asteriskId);
  }

  private onStasisStart(event: AriStasisStart): void {
    if (event.asterisk_id) this.asteriskId = event.asterisk_id;
    this.active.set(event.channel.id, { cause: null });
    this.events!.callStarted(startedCall(event, this.asteriskId));
  }

  private onStasisEnd(channelId: string): void {
    for (const [id, p] of this.playbacks) if (p.channelId === channelId) this.settlePlayback(id, 'cancelled');
    this.digitWaiters.get(channelId)?.(null);
    const call = this.active.get(channelId);
    if (!call) return; // not one of ours
    if (!call.up) endedBeforeUp(call);
    this.active.delete(channelId);
    this.events!.callEnded(endedCall(channelId, call.cause, call.answerCrossed ?? false));
  }

  /**
   * Handles `name` with its payload read through `parse`. A payload of another shape has nothing
   * we could act on (not even a channel id): it is logged and skipped.
   */
  private listen<T>(client: AriClient, name: AriEventName, parse: (payload: unknown) => T | null, handle: (event: T) => void): void {
    client.on(name, (payload) => {
      const event = parse(payload);
      if (event !== null) handle(event);
      else this.log.warn({ event: name }, 'unreadable ARI event skipped');
    });
  }

  private settlePlayback(playbackId: string, result: PlayResult): void {
    this.playbacks.get(playbackId)?.settle(result);
  }

  private failPlaybacks(): void {
    for (const id of [...this.playbacks.keys()]) this.settlePlayback(id, 'failed');
  }

  /** Per-call bookkeeping still held; both are 0 when no call is up (tests check for leaks). */
  get heldState(): { channels: number; playbacks: number; listeners: number } {
    const c = this.client;
    const listeners = c?.eventNames().reduce((n, e) => n + c.listenerCount(e), 0) ?? 0;
    return { channels: this.active.size, playbacks: this.playbacks.size + this.digitWaiters.size, listeners };
  }

  /**
   * One ARI request, with a deadline; any failure becomes a TelephonyError for `channelId`.
   * A request still running past its deadline is left to settle on its own (Promise.race keeps
   * listening to it, so its late rejection is handled).
   */
  private async request<T>(channelId: string | null, operation: string, send: (client: AriClient) => Promise<T>): Promise<T> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!this.client) throw new Error('ARI is not connected');
      return await Promise.race([
        send(this.client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new TelephonyError(`ARI ${operation}: ${message}`, channelId, operation, CHANNEL_GONE.test(message), { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async progress(channelId: string): Promise<void> {
    await this.request(channelId, 'progress', (c) => c.channels.progress({ channelId }));
  }

  /**
   * Resolves once the caller is answered. Asterisk's word for it is the channel's Up report on
   * the websocket, which comes in the channel's own order of events:
   * - the request's reply alone is not enough: when the caller's CANCEL crosses the answer,
   *   Asterisk reports the channel Up and replies success, but sends no 200 OK (seen on
   *   Asterisk 22 under load; see cancelCrossedAnswer). So after the reply we wait for the Up
   *   report: a hang-up request before it, or the crossing seen by then, means nobody was
   *   answered (channelGone); a crossing seen later is carried by the call's end (answerCrossed);
   * - a reply with no report within answerGraceMs (the websocket lost its events) is trusted:
   *   a caller Asterisk answered is billed, so is followed as answered;
   * - a failed request (deadline, connection) is still an answer when the Up report comes
   *   before it or within answerGraceMs after it: an overloaded Asterisk carries answers out
   *   past our deadline.
   */
  async answer(channelId: string): Promise<void> {
    const call = this.active.get(channelId);
    const graceMs = this.opts.answerGraceMs ?? this.opts.requestTimeoutMs ?? 10_000;
    try {
      await this.request(channelId, 'answer', (c) => c.channels.answer({ channelId }));
    } catch (err) {
      if (err instanceof TelephonyError && err.channelGone) throw err;
      if (call && (await this.upReport(call, graceMs)) === true) {
        this.log.warn({ channelId, err: (err as Error).message }, 'answer request failed, but Asterisk reports the channel answered');
        return;
      }
      throw err;
    }
    if (!call) return; // not followed from its StasisStart: the reply is all there is
    const report = await this.upReport(call, graceMs);
    if (report === false) {
      throw new TelephonyError('ARI answer: the caller hung up before the answer took effect', channelId, 'answer', true);
    }
    // Most often the crossing's hang-up request comes with the reply; when it comes later, the
    // call's end carries it (answerCrossed) and the ledger takes the answer back.
    if (call.answerCrossed) throw new TelephonyError("ARI answer: the caller's CANCEL crossed the answer", channelId, 'answer', true);
    if (report === null) this.log.warn({ channelId }, 'answer replied, but no Up report came; followed as answered');
  }

  /**
   * How Asterisk reports `call` within `ms`: true Up, false ended (hang-up request or StasisEnd)
   * before any Up, null no report (the time ran out, the websocket dropped, or we stopped).
   */
  private upReport(call: ActiveChannel, ms: number): Promise<boolean | null> {
    if (call.up) return Promise.resolve(true);
    if (call.endedBeforeUp) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(null), ms);
      const settle = (report: boolean | null) => {
        clearTimeout(timer);
        if (call.upWaiter === settle) delete call.upWaiter;
        resolve(report);
      };
      call.upWaiter?.(null);
      call.upWaiter = settle;
    });
  }

  /** No Up report can come any more (events lost with the websocket, or we stop): answers settle on what they have. */
  private settleUpWaiters(): void {
    for (const call of this.active.values()) call.upWaiter?.(null);
  }

  play(channelId: string, media: Media, language: Language, signal: AbortSignal): Promise<PlayResult> {
    if (signal.aborted) return Promise.resolve('cancelled');
    const playbackId = randomUUID();
    return new Promise<PlayResult>((resolve) => {
      const settle = (result: PlayResult) => {
        this.playbacks.delete(playbackId);
        signal.removeEventListener('abort', cancel);
        resolve(result);
      };
      // Registered before the request: PlaybackFinished may arrive before its answer.
      this.playbacks.set(playbackId, { channelId, settle });
      const requested = this.request(channelId, 'play', (c) => c.channels.play({ channelId, playbackId, media, lang: language }));
      const cancel = () => {
        settle('cancelled');
        // The sound must stop too, once Asterisk has it (a stop sent before the play's answer
        // could overtake it). On a channel that is gone there is nothing left to stop.
        requested.then(
          () => (this.active.has(channelId) ? this.stopPlayback(channelId, playbackId) : undefined),
          () => {},
        );
      };
      signal.addEventListener('abort', cancel, { once: true });
      requested.catch((err: TelephonyError) => {
        if (!this.playbacks.has(playbackId)) return; // already settled (cancelled)
        this.log.warn({ err, channelId }, 'playback refused');
        settle(err.channelGone ? 'cancelled' : 'failed');
      });
    });
  }

  /** Best effort: a playback that already ended (or a channel gone) answers 404, which is fine. */
  private async stopPlayback(channelId: string, playbackId: string): Promise<void> {
    try {
      await this.request(channelId, 'stop playback', (c) => c.playbacks.stop({ playbackId }));
    } catch (err) {
      this.log.debug({ err: (err as Error).message, channelId }, 'playback not stopped (already over)');
    }
  }

  async hangup(channelId: string, reason: HangupReason): Promise<void> {
    const call = this.active.get(channelId);
    if (call && call.cause === null) call.cause = REASON_CAUSE[reason];
    await this.request(channelId, 'hangup', (c) => c.channels.hangup({ channelId, reason }));
  }

  nextDigit(channelId: string, timeoutMs: number, signal: AbortSignal): Promise<string | null> {
    if (signal.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const settle = (digit: string | null) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.digitWaiters.get(channelId) === settle) this.digitWaiters.delete(channelId);
        resolve(digit);
      };
      const onAbort = () => settle(null);
      const timer = setTimeout(() => settle(null), timeoutMs);
      // A second wait on one channel replaces the first, which resolves null.
      this.digitWaiters.get(channelId)?.(null);
      this.digitWaiters.set(channelId, settle);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async liveCalls(): Promise<IncomingCall[]> {
    const answer = await this.request(null, 'list channels', (c) => c.channels.list());
    const channels = parseChannelList(answer);
    if (!channels) throw new TelephonyError('ARI list channels: the answer is not a list of channels', null, 'list channels', false);
    const calls = liveCallsOf(channels, this.opts.app, this.asteriskId);
    const upIds = new Set(channels.filter((c) => c.state === 'Up').map((c) => c.id));
    for (const call of calls) if (!this.active.has(call.channelId)) this.active.set(call.channelId, { cause: null, up: upIds.has(call.channelId) });
    return calls;
  }
}

/**
 * A channel we follow, from StasisStart to StasisEnd. `cause`: the hang-up cause once known.
 * `up`: Asterisk reported it answered (ChannelStateChange Up), at `upAt` (our clock).
 * `endedBeforeUp`: its hang-up request or StasisEnd came first, so no later Up is an answer.
 * `answerCrossed`: the caller's CANCEL crossed the answer (cancelCrossedAnswer). `upWaiter`: an
 * answer() waiting for Up or the end.
 */
interface ActiveChannel {
  cause: number | null;
  up?: boolean;
  upAt?: number;
  endedBeforeUp?: boolean;
  answerCrossed?: boolean;
  upWaiter?: (report: boolean | null) => void;
}

function endedBeforeUp(call: ActiveChannel): void {
  call.endedBeforeUp = true;
  call.upWaiter?.(false);
}

/** The call a StasisStart announces; its first Stasis argument is the dialed number. */
export function startedCall(event: AriStasisStart, knownAsteriskId: string | null): IncomingCall {
  return incomingCall(event.channel, event.args[0], event.asterisk_id ?? knownAsteriskId);
}

function incomingCall(channel: AriChannel, firstArg: string | undefined, asteriskId: string | null): IncomingCall {
  return {
    channelId: channel.id,
    asteriskId,
    dialedRaw: firstArg ?? channel.dialplan?.exten ?? '',
    // No caller number at all is a withheld caller ID, as is 'anonymous': the flow decides.
    callerRaw: channel.caller?.number ?? '',
  };
}

/**
 * The calls among `channels` that sit in our application (`Stasis(<app>,<dialed>,…)`), as
 * StasisStart would have announced them: other applications' channels, and channels in the
 * dialplan, are not ours.
 */
export function liveCallsOf(channels: readonly AriChannel[], app: string, asteriskId: string | null): IncomingCall[] {
  const prefix = `${app},`;
  const calls: IncomingCall[] = [];
  for (const channel of channels) {
    const appData = channel.dialplan?.app_data ?? '';
    if (channel.dialplan?.app_name !== 'Stasis' || !appData.startsWith(prefix)) continue;
    calls.push(incomingCall(channel, appData.slice(prefix.length).split(',')[0], asteriskId));
  }
  return calls;
}

/**
 * The cause a hang-up request settles: the caller's (their CANCEL or a network release), or
 * none. A soft request is our own hang-up echoed back (cause 32): the reason we gave stands.
 */
export function requestedCause(request: AriHangupRequest): number | null {
  return request.soft || request.cause === undefined ? null : request.cause;
}

/** How a call ended, from the cause recorded while it was up. */
export function endedCall(channelId: string, cause: number | null, answerCrossed = false): HangupInfo {
  // A caller's BYE after answer carries no cause: that is a normal clearing.
  const final = cause ?? 16;
  return { channelId, cause: final, causeText: Q850[final] ?? null, ...(answerCrossed ? { answerCrossed } : {}) };
}

/**
 * Cause of a hang-up request that ends an INVITE its caller cancelled: chan_pjsip maps the 487
 * the CANCEL ends it with to 127 (interworking). A caller's BYE after a 200 OK carries no cause
 * (or 16), our own hang-up is soft.
 */
const CANCELLED_INVITE_CAUSE = 127;
/**
 * How long after the Up report a cancelled INVITE's hang-up request can come. In the crossing
 * it comes within a millisecond (measured 0-1 ms on Asterisk 22); an answered call cannot end
 * with 127 this early (a failed session refresh, the other 127, comes minutes in).
 */
export const CROSSING_WINDOW_MS = 2_000;

/**
 * Whether a hang-up request coming `msSinceUp` after the channel's Up report means the caller's
 * CANCEL crossed the IVR's answer. chan_pjsip sets the channel Up, then queues the answer behind
 * whatever its SIP serializer holds: when that is the CANCEL, the session ends (487, hang-up
 * request, cause 127) and the answer then finds it DISCONNECTED, logs "Session already
 * DISCONNECTED", sends no 200 OK, and reports success. Nobody was billed. Known gap: a carrier's
 * CANCEL with a Reason header (RFC 3326) sets the cause itself and the request carries none;
 * such a crossing is taken as answered, the side that never bills a caller we cannot credit.
 */
export function cancelCrossedAnswer(request: AriHangupRequest, msSinceUp: number): boolean {
  return !request.soft && request.cause === CANCELLED_INVITE_CAUSE && msSinceUp <= CROSSING_WINDOW_MS;
}

/** How ari-client words a request on a channel Asterisk no longer has (404, or 409 once it left Stasis). */
const CHANNEL_GONE = /not found|not in stasis/i;

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
