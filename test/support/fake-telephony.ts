// An in-memory Telephony that behaves like Asterisk where the call flow can tell: a hang-up is
// reported back (StasisEnd) shortly after, a request on a channel that is gone fails with 404,
// and a play is cancelled the moment its call's signal aborts. Tests script failures on it: a
// verb that rejects (Asterisk unreachable), or the caller hanging up before or during a verb.
import { pino } from 'pino';
import type { Database } from '../../db/client.js';
import type { Media } from '../../domain/index.js';
import { CallFlow } from '../../ivr/call-flow.js';
import { TelephonyError, type HangupInfo, type HangupReason, type IncomingCall, type PlayResult, type Telephony } from '../../ivr/telephony.js';

export type Verb = 'progress' | 'answer' | 'play' | 'hangup';

/**
 * What goes wrong at one verb of one call:
 * - `unreachable`: the request fails (Asterisk or the websocket down); a play resolves 'failed';
 * - `raw-error`: the request rejects with a plain Error, as a broken client library might;
 * - `gone`: the caller hung up just before: StasisEnd is reported, the request gets a 404;
 * - `hangup-during`: the caller hangs up while the verb runs (a play is then cancelled);
 * - `silent-end`: the caller hung up before and its StasisEnd was lost with the connection;
 * - `late-answer`: (answer) no reply in time, but Asterisk carries the answer out and reports
 *   the channel Up just after.
 */
export type Fault = 'unreachable' | 'raw-error' | 'gone' | 'hangup-during' | 'silent-end' | 'late-answer';

const CAUSE: Record<HangupReason, number> = { normal: 16, busy: 17, no_answer: 19, congestion: 34 };

export class FakeTelephony implements Telephony {
  verbs: string[] = [];
  live: IncomingCall[] = [];
  /** Where Asterisk's StasisEnd goes (the flow's callEnded). */
  onEnded: (info: HangupInfo) => void = () => {};
  /** Where Asterisk's report of an answer goes (the flow's callAnswered). */
  onAnswered: (channelId: string) => void = () => {};
  /** How long a play lasts unless cancelled. */
  playMs = 0;
  private readonly faults = new Map<string, { index: number; fault: Fault }>();
  private readonly counts = new Map<string, number>();
  private readonly gone = new Set<string>();

  /** Makes the `index`-th verb (0-based, all verbs counted) of `channelId` go wrong. */
  failAt(channelId: string, index: number, fault: Fault): void {
    this.faults.set(channelId, { index, fault });
  }

  async progress(id: string) {
    await this.verb(id, 'progress', '');
  }

  async answer(id: string) {
    await this.verb(id, 'answer', '');
  }

  /** Plays cut short by the flow ("<id> <media>"), in order. */
  cancelledPlays: string[] = [];
  /** Channels that ever had two sounds playing at once (a prompt queued behind another). */
  overlapped = new Set<string>();
  private readonly playing = new Map<string, number>();

  async play(id: string, media: Media, lang: string, signal: AbortSignal): Promise<PlayResult> {
    try {
      await this.verb(id, 'play', `[${lang}] ${media.join(' ')}`);
    } catch (err) {
      return (err as TelephonyError).channelGone ? 'cancelled' : 'failed';
    }
    if (signal.aborted) {
      // Cut while the request was on its way (Asterisk had it): cancelled all the same.
      this.cancelledPlays.push(`${id} ${media.join(' ')}`);
      return 'cancelled';
    }
    const now = (this.playing.get(id) ?? 0) + 1;
    this.playing.set(id, now);
    if (now > 1) this.overlapped.add(id);
    return new Promise<PlayResult>((resolve) => {
      const end = (result: PlayResult) => {
        this.playing.set(id, (this.playing.get(id) ?? 1) - 1);
        resolve(result);
      };
      const cancel = () => {
        clearTimeout(timer);
        this.cancelledPlays.push(`${id} ${media.join(' ')}`);
        end('cancelled');
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', cancel);
        end(this.gone.has(id) ? 'cancelled' : 'finished');
      }, this.playMs);
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  async hangup(id: string, reason: HangupReason) {
    await this.verb(id, 'hangup', ` ${reason}`);
    this.end(id, CAUSE[reason]);
  }

  async liveCalls() {
    return this.live;
  }

  private readonly keys = new Map<string, string[]>();

  /** The caller will press these keys, one per nextDigit; with none left, nextDigit times out at once. */
  pressKeys(id: string, keys: string[]): void {
    this.keys.set(id, [...keys]);
  }

  async nextDigit(id: string, _timeoutMs: number, signal: AbortSignal): Promise<string | null> {
    if (signal.aborted || this.gone.has(id)) return null;
    const key = this.keys.get(id)?.shift() ?? null;
    this.verbs.push(`${id} digit ${key ?? 'none'}`);
    await new Promise((r) => setImmediate(r));
    return key;
  }

  /** The verbs a channel received, without its id. */
  of(id: string) {
    return this.verbs.filter((v) => v.startsWith(`${id} `)).map((v) => v.slice(id.length + 1));
  }

  /** The caller hangs up now (BYE or CANCEL): Asterisk reports it shortly after. */
  callerHangsUp(id: string): void {
    this.end(id, 16);
  }

  /**
   * The end reported for a call whose answer the caller's CANCEL crossed: Asterisk went Up but
   * sent no 200 OK (the ARI adapter tells it from the hang-up request, see ivr/ari.ts).
   */
  cancelCrossedAnswer(id: string): void {
    this.end(id, 127, true, { answerCrossed: true });
  }

  private end(id: string, cause: number, reported = true, extra: Partial<HangupInfo> = {}): void {
    if (this.gone.has(id)) return;
    this.gone.add(id);
    if (reported) setImmediate(() => this.onEnded({ channelId: id, cause, causeText: null, ...extra }));
  }

  private async verb(id: string, verb: Verb, detail: string): Promise<void> {
    const index = this.counts.get(id) ?? 0;
    this.counts.set(id, index + 1);
    const planned = this.faults.get(id);
    const fault = planned?.index === index ? planned.fault : undefined;
    if (fault === 'gone') this.end(id, 16);
    if (fault === 'silent-end') this.end(id, 16, false);
    if (this.gone.has(id)) {
      this.verbs.push(`${id} ${verb}${detail} -> 404`);
      throw new TelephonyError('Channel not found', id, verb, true);
    }
    this.verbs.push(`${id} ${verb}${detail}${fault ? ` -> ${fault}` : ''}`);
    if (fault === 'unreachable') throw new TelephonyError('connect ECONNREFUSED 127.0.0.1:8088', id, verb, false);
    if (fault === 'raw-error') throw new Error('socket hang up');
    if (fault === 'late-answer') {
      setImmediate(() => this.onAnswered(id));
      throw new TelephonyError('ARI answer: no answer within 10000 ms', id, verb, false);
    }
    // Asterisk carries the request out, and the caller hangs up right after.
    if (fault === 'hangup-during') setImmediate(() => this.callerHangsUp(id));
    await new Promise((r) => setImmediate(r));
  }
}

/** A call flow on a fresh fake telephony, its hang-ups reported back to it, as the worker wires them. */
export function flowOnFakePhone(db: Database): { phone: FakeTelephony; flow: CallFlow } {
  const phone = new FakeTelephony();
  const flow = new CallFlow(db, phone, pino({ level: 'silent' }), { defaultRegion: 'FR', defaultLanguage: 'fr', maxCallSeconds: 3600 });
  phone.onEnded = (info) => void flow.callEnded(info);
  phone.onAnswered = (channelId) => flow.callAnswered(channelId);
  return { phone, flow };
}

/** A channel entering the application on node-1, numbers as Asterisk would pass them. */
export const incomingCall = (channelId: string, dialedRaw: string, callerRaw: string): IncomingCall => ({ channelId, asteriskId: 'node-1', dialedRaw, callerRaw });
