// What happens to one call, from StasisStart to hang-up, as a short sequence of verbs over the
// Telephony interface. All decisions come from domain/ (via the ledger) and all state lives
// in the database, so a restarted IVR can pick up channels that are still up (resync()).
//
// How one call can never take the process down nor stay open in the ledger:
// - each call has one AbortController; the caller's hang-up (StasisEnd) aborts it, which
//   cancels at once every play and wait of that call;
// - play() never throws: it says finished, cancelled or failed, and anything short of
//   finished ends the script; the other verbs reject only into callStarted's one catch;
// - whatever way the script ends, finish() runs: it hangs up if nobody has (an answered
//   caller is never left billed in silence), waits briefly for Asterisk to report the end,
//   and closes the call record (endCall: counted, too_short, abandoned...).
import type { Logger } from 'pino';
import { callerToE164, toE164 } from '../core/phone.js';
import type { Database } from '../db/client.js';
import {
  admitCall,
  countCall,
  endCall,
  getCall,
  markAnswered,
  openCalls,
  type CountResult,
} from '../db/ledger/index.js';
import { afterCount, greeting, priceAnnouncement, refusal, type Admission, type CallFacts, type CallPlan, type Language, type Media } from '../domain/index.js';
import { TelephonyError, type HangupInfo, type HangupReason, type IncomingCall, type PlayResult, type Telephony } from './telephony.js';

export interface CallFlowOptions {
  defaultRegion: string;
  defaultLanguage: Language;
  maxCallSeconds: number;
  /**
   * After the IVR hangs up, how long to wait for Asterisk to report the channel's end (and its
   * cause) before closing the record without it, e.g. when the connection was lost meanwhile.
   */
  endGraceMs?: number;
}

/** How a channel ended; `lost` when it vanished while the connection to Asterisk was down. */
type ChannelEnd = HangupInfo & { lost?: boolean };

/** One call this process follows, from StasisStart until its record is closed. */
interface Session {
  readonly channelId: string;
  readonly log: Logger;
  /** Aborted when the channel ends or this process stops following it: cancels plays and waits. */
  readonly abort: AbortController;
  /** Opening order: tells the calls a channel listing must contain from the ones newer than it. */
  readonly seq: number;
  /** Set once Asterisk reported the end of the channel (or it was found gone). */
  ended?: ChannelEnd;
  /** Shutdown: the channel and its record are left to the next IVR. */
  stopped: boolean;
  /** The caller is being billed: every way out from here hangs up. */
  answered: boolean;
  /** The IVR has asked for the hang-up (whether or not Asterisk could do it). */
  hungUp: boolean;
}

/** Attempts to close a call record while the database fails (about 15 s in all). */
const CLOSE_ATTEMPTS = 6;

export class CallFlow {
  private readonly sessions = new Map<string, Session>();
  private nextSeq = 0;

  constructor(
    private readonly db: Database,
    private readonly phone: Telephony,
    private readonly log: Logger,
    private readonly opts: CallFlowOptions,
  ) {}

  /** Number of calls this process is handling right now. */
  get activeCalls(): number {
    return this.sessions.size;
  }

  /** Follows one call to its end. Never rejects: every failure ends in finish(). */
  async callStarted(call: IncomingCall): Promise<void> {
    if (this.sessions.has(call.channelId)) return; // already followed (seen again at a resync)
    const s: Session = {
      channelId: call.channelId,
      log: this.log.child({ channelId: call.channelId }),
      abort: new AbortController(),
      seq: this.nextSeq++,
      stopped: false,
      answered: false,
      hungUp: false,
    };
    // Registered before any await, so a hang-up arriving while we decide is not missed.
    this.sessions.set(call.channelId, s);
    try {
      const { plan, duplicate } = await this.admit(call, s.log);
      if (!s.abort.signal.aborted) await this.follow(s, plan, duplicate);
    } catch (err) {
      // Most often the caller hung up under a request (ARI answers 404).
      const expected = s.ended !== undefined || s.stopped || (err instanceof TelephonyError && err.channelGone);
      s.log[expected ? 'warn' : 'error']({ err }, 'call flow interrupted');
    } finally {
      await this.finish(s);
    }
  }

  /** Asterisk reports the end of a channel (StasisEnd). Never rejects. */
  async callEnded(info: HangupInfo): Promise<void> {
    const s = this.sessions.get(info.channelId);
    if (s) {
      // The flow unwinds at once (every wait listens to this signal) and closes the record.
      s.ended ??= info;
      s.abort.abort();
      return;
    }
    // Nobody follows it (its flow already finished, or a call of a previous process).
    await this.closeRecord(info.channelId, info, this.log.child({ channelId: info.channelId }));
  }

  /**
   * Stops following calls (shutdown): nothing more is counted, played or closed by this process.
   * The channels stay in Asterisk's application and the next IVR to connect takes them up.
   */
  stop(): void {
    for (const s of this.sessions.values()) {
      s.stopped = true;
      s.abort.abort();
    }
    this.sessions.clear();
  }

  /**
   * After (re)connecting to Asterisk: end the calls whose channels vanished while we were away,
   * and take up the channels that are still in our application.
   */
  async resync(asteriskId: string | null): Promise<void> {
    // A call that starts while the list is being fetched may be missing from it: leave it be.
    const listedFrom = this.nextSeq;
    const live = await this.phone.liveCalls();
    const liveIds = new Set(live.map((c) => c.channelId));
    for (const s of this.sessions.values()) {
      if (s.seq < listedFrom && !liveIds.has(s.channelId)) {
        s.ended ??= { channelId: s.channelId, cause: null, causeText: null, lost: true };
        s.abort.abort();
      }
    }
    for (const call of await openCalls(this.db, asteriskId)) {
      // A call with a session is closed by its own flow.
      if (liveIds.has(call.channelId) || this.sessions.has(call.channelId)) continue;
      await endCall(this.db, call.channelId, { lost: true });
      this.log.warn({ channelId: call.channelId }, 'call lost while the IVR was away');
    }
    for (const call of live) {
      if (this.sessions.has(call.channelId)) continue;
      this.log.info({ channelId: call.channelId }, 'resuming call after reconnect');
      // callStarted is idempotent on the channel id (the ledger returns the recorded decision)
      // and never rejects.
      void this.callStarted(call);
    }
  }

  private async admit(call: IncomingCall, log: Logger): Promise<{ plan: CallPlan; duplicate: boolean }> {
    const facts: CallFacts = {
      channelId: call.channelId,
      asteriskId: call.asteriskId,
      dialedRaw: call.dialedRaw,
      dialed: toE164(call.dialedRaw, this.opts.defaultRegion),
      callerRaw: call.callerRaw,
      caller: callerToE164(call.callerRaw, this.opts.defaultRegion),
    };
    try {
      const { admission, duplicate } = await admitCall(this.db, facts, { maxCallSeconds: this.opts.maxCallSeconds, defaultLanguage: this.opts.defaultLanguage });
      log.info({ dialed: facts.dialed ?? facts.dialedRaw, caller: facts.caller, ...admission, duplicate }, 'call decision');
      return { plan: admission, duplicate };
    } catch (err) {
      // Without the ledger we cannot credit anyone, so nobody is answered.
      log.error({ err, dialed: facts.dialedRaw }, 'call decision failed: refusing unanswered');
      return { plan: { action: 'reject', outcome: 'failed', language: this.opts.defaultLanguage }, duplicate: false };
    }
  }

  private async follow(s: Session, plan: CallPlan, duplicate: boolean): Promise<void> {
    if (plan.action === 'reject') return this.refuse(s, plan);
    if (plan.action === 'answer') return this.serve(s, plan, duplicate);
    // Settled while the IVR was away (restart): say where the purchase stands, hang up.
    s.answered = true;
    if ((await this.play(s, afterCount(plan.callsRemaining), plan.language)) !== 'finished') return;
    await this.hangup(s, 'normal');
  }

  /** Refused call: never answered, so never billed. */
  private async refuse(s: Session, admission: Extract<Admission, { action: 'reject' }>): Promise<void> {
    await this.phone.progress(s.channelId);
    if ((await this.play(s, refusal(admission.outcome), admission.language)) !== 'finished') return;
    await this.hangup(s, admission.outcome === 'failed' ? 'congestion' : 'busy');
  }

  private async serve(s: Session, admission: Extract<Admission, { action: 'answer' }>, duplicate: boolean): Promise<void> {
    // Only a channel seen before (IVR restart) may already be answered: no extra read per call.
    const recorded = duplicate ? await getCall(this.db, s.channelId) : null;
    // A call taken up after a restart has heard its greeting and run part of its minimum: no
    // second greeting, and the ledger says how much is left (too_early) rather than waiting
    // the whole minimum again on the caller's bill.
    const resumed = Boolean(recorded?.answeredAt);
    if (resumed) s.answered = true;
    else {
      if (admission.priceAnnouncement) {
        // The mandatory price announcement must be free: play it before answering.
        await this.phone.progress(s.channelId);
        if ((await this.play(s, priceAnnouncement(admission.priceAnnouncement), admission.language)) !== 'finished') return;
      }
      await this.phone.answer(s.channelId);
      s.answered = true;
      await markAnswered(this.db, s.channelId);
    }
    // The greeting plays while the minimum runs. A greeting that cannot be played stops the
    // wait too: nobody waits out the minimum on their bill in silence.
    const greetingFailed = new AbortController();
    const greeted: Promise<PlayResult> = resumed
      ? Promise.resolve('finished')
      : this.play(s, greeting(admission.callsRemaining), admission.language).then((result) => {
          if (result === 'failed') greetingFailed.abort();
          return result;
        });
    const [result, greetingEnd] = await Promise.all([
      this.waitThenCount(s.channelId, resumed ? 0 : admission.minCallSeconds, AbortSignal.any([s.abort.signal, greetingFailed.signal])),
      greeted,
    ]);
    // The caller left (endCall records too_short or counted), or the greeting failed.
    if (!result || greetingEnd !== 'finished') return;
    if (!result.counted) {
      s.log.warn({ reason: result.reason }, 'answered call not credited');
      await this.hangup(s, 'normal');
      return;
    }
    s.log.info({ purchaseId: result.purchase.id, callsRemaining: result.purchase.callsRemaining, completed: result.completed }, 'call counted');
    if ((await this.play(s, afterCount(result.purchase.callsRemaining), admission.language)) !== 'finished') return;
    await this.hangup(s, 'normal');
  }

  /** Waits for the minimum by the database's clock, then credits; null if stopped first. */
  private async waitThenCount(channelId: string, minCallSeconds: number, signal: AbortSignal): Promise<CountResult | null> {
    let waitMs = minCallSeconds * 1000;
    for (;;) {
      if (!(await sleep(waitMs, signal))) return null;
      const result = await countCall(this.db, channelId);
      if (result.counted || result.reason !== 'too_early') return result;
      // Our timer and the database clock differ by a few milliseconds: wait the difference.
      waitMs = Math.ceil(result.secondsLeft * 1000) + 20;
    }
  }

  private play(s: Session, media: Media, language: 'fr' | 'en'): Promise<PlayResult> {
    return this.phone.play(s.channelId, media, language, s.abort.signal);
  }

  private async hangup(s: Session, reason: HangupReason): Promise<void> {
    s.hungUp = true;
    await this.phone.hangup(s.channelId, reason);
  }

  /**
   * The end of every call this process follows, whatever stopped its script: hang up if the
   * caller is still there and nobody has, then close the record. Never rejects.
   */
  private async finish(s: Session): Promise<void> {
    try {
      if (s.stopped) return;
      if (!s.ended && !s.hungUp) {
        s.hungUp = true;
        // Before the answer, congestion (503) like any refusal: never a 200 OK from here.
        await this.phone.hangup(s.channelId, s.answered ? 'normal' : 'congestion').catch((err: unknown) => s.log.warn({ err }, 'hang-up failed'));
      }
      // Asterisk reports the end within milliseconds, with its cause; unless the link is gone.
      if (!s.ended) await sleep(this.opts.endGraceMs ?? 5_000, s.abort.signal);
      if (s.stopped) return;
      await this.closeRecord(s.channelId, s.ended ?? { channelId: s.channelId, cause: null, causeText: null }, s.log);
    } finally {
      if (this.sessions.get(s.channelId) === s) this.sessions.delete(s.channelId);
    }
  }

  /** Closes the call record (idempotent), retrying while the database fails. Never rejects. */
  private async closeRecord(channelId: string, end: ChannelEnd, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { call } = await endCall(this.db, channelId, { cause: end.cause, causeText: end.causeText, lost: end.lost ?? false });
        if (call) {
          log.info({ outcome: call.outcome, answeredSeconds: call.answeredSeconds, cause: end.cause, purchaseId: call.purchaseId }, 'call ended');
        }
        return;
      } catch (err) {
        if (attempt === CLOSE_ATTEMPTS) {
          // A restarted IVR closes it (resync), and admissions ignore it after MAX_CALL_SECONDS.
          log.error({ err }, 'could not record call end');
          return;
        }
        log.warn({ err, attempt }, 'could not record call end, retrying');
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
      }
    }
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (at once if it has). */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (elapsed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(elapsed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
