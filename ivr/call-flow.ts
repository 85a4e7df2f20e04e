// The life of every call this process follows, from StasisStart until its record is closed:
// admit it (the ledger decides, with domain/'s rules), run the script for that decision
// (ivr/scripts/: refuse, pay per call, conclude), then finish it. All state lives in the
// database, so a restarted IVR can pick up channels that are still up (resync()).
//
// How one call can never take the process down nor stay open in the ledger:
// - each call has one AbortController; the caller's hang-up (StasisEnd) aborts it, which
//   cancels at once every play and wait of that call;
// - play() never throws: it says finished, cancelled or failed, and anything short of
//   finished ends the script; the other verbs reject only into callStarted's one catch;
// - whatever way the script ends, finish() runs: it hangs up if nobody has, or asks again
//   while Asterisk does not take the hang-up (an answered caller is never left billed in
//   silence), waits briefly for Asterisk to report the end, and closes the call record
//   (endCall: counted, too_short, abandoned...).
import type { Logger } from 'pino';
import { callDecisionSeconds, purchasesCompleted, recordCallEnd } from '../core/metrics.js';
import { callerToE164, toE164 } from '../core/phone.js';
import type { Database } from '../db/client.js';
import { admitCall, endCall, markAnswered, openCalls } from '../db/ledger/index.js';
import type { CallFacts, CallPlan, Language } from '../domain/index.js';
import { Call, sleep, type ChannelEnd } from './call.js';
import { accessCode } from './scripts/access-code.js';
import { conclude } from './scripts/conclude.js';
import { payPerCall } from './scripts/pay-per-call.js';
import { payPerSecond } from './scripts/pay-per-second.js';
import { refuse } from './scripts/refuse.js';
import { TelephonyError, type HangupInfo, type IncomingCall, type Telephony } from './telephony.js';

export interface CallFlowOptions {
  defaultRegion: string;
  defaultLanguage: Language;
  maxCallSeconds: number;
  /**
   * After the IVR hangs up, how long to wait for Asterisk to report the channel's end (and its
   * cause) before closing the record without it, e.g. when the connection was lost meanwhile.
   */
  endGraceMs?: number;
  /** First pause before asking Asterisk again for a hang-up it did not take (doubles each time). */
  hangupRetryMs?: number;
}

/** Attempts to close a call record while the database fails (about 15 s in all). */
const CLOSE_ATTEMPTS = 6;
/**
 * Attempts to hang up a channel Asterisk did not answer for (each request waits up to the ARI
 * timeout, 10 s; with the pauses, about a minute in all). Measured: an overloaded Asterisk let
 * 107 of 3,360 hang-ups time out, and those callers stayed on the line, billed, until they hung up.
 */
const HANGUP_ATTEMPTS = 5;

export class CallFlow {
  private readonly sessions = new Map<string, Call>();
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

  /**
   * Follows one call to its end. Never rejects: every failure ends in finish(). `resumed`: a
   * channel found up after a reconnect, which may have been answered by a previous process.
   */
  async callStarted(call: IncomingCall, opts: { resumed?: boolean } = {}): Promise<void> {
    if (this.sessions.has(call.channelId)) return; // already followed (seen again at a resync)
    const s = new Call(call.channelId, this.log.child({ channelId: call.channelId }), this.nextSeq++, this.phone, this.db);
    // Registered before any await, so a hang-up arriving while we decide is not missed.
    this.sessions.set(call.channelId, s);
    // 183 at once, while the ledger decides: the caller's network hears from us within a few
    // milliseconds (post-dial delay), and a 183 commits to nothing, it is never billed. Every
    // script follows with early media, an answer or a refusal; Call.progress() sends it once.
    // A failure here (the caller already gone) is met again by the script, or by StasisEnd.
    if (!opts.resumed) s.progress().catch(() => {});
    try {
      // From StasisStart (this handler runs synchronously from the event) to the decision; the
      // script's first command after it (play, answer, hang-up) is sent in the same tick.
      const startedAt = performance.now();
      // Node writes the 183's request on the socket in a process.nextTick callback, so only once
      // this event's synchronous work is done, and the decision's start (its transaction begun
      // through drizzle and postgres.js) was part of that work: marks in the IVR under the
      // decision bench had the request written 0.86 ms after the StasisStart frame, 0.59 ms with
      // the decision waiting for the next tick. Ticks run in order, so the request leaves first.
      if (!opts.resumed) await new Promise<void>((resolve) => process.nextTick(resolve));
      const { plan, duplicate } = await this.admit(call, s.log, startedAt);
      callDecisionSeconds.observe({ action: plan.action }, (performance.now() - startedAt) / 1000);
      if (!s.abort.signal.aborted) await this.follow(s, plan, { seenBefore: duplicate });
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
   * Asterisk reports a channel answered. Nothing to do when the script's answer went through;
   * after a failed answer request (no reply within the deadline and its grace) the caller was
   * answered anyway, so billed: the ledger must say so, and the record then closes by the usual
   * rule (counted past the minimum, else too_short, which the operator can credit); a hang-up
   * not asked for yet goes out as a normal clearing. Never rejects.
   */
  callAnswered(channelId: string): void {
    const s = this.sessions.get(channelId);
    if (!s || s.answered || !s.answerFailed) return;
    s.answered = true;
    s.log.error('Asterisk answered after the IVR gave up on the answer: the caller may be billed; recorded as answered');
    s.lateAnswer = markAnswered(this.db, channelId).catch((err: unknown) => s.log.error({ err }, 'could not record the late answer'));
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
      const { call: closed } = await endCall(this.db, call.channelId, { lost: true });
      if (closed) recordCallEnd(closed);
      this.log.warn({ channelId: call.channelId }, 'call lost while the IVR was away');
    }
    for (const call of live) {
      if (this.sessions.has(call.channelId)) continue;
      this.log.info({ channelId: call.channelId }, 'resuming call after reconnect');
      // callStarted is idempotent on the channel id (the ledger returns the recorded decision)
      // and never rejects.
      void this.callStarted(call, { resumed: true });
    }
  }

  private async admit(call: IncomingCall, log: Logger, startedAt: number): Promise<{ plan: CallPlan; duplicate: boolean }> {
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
      // decisionMs: the exact figure per call (bench/telephony.ts reads it; the histogram buckets are coarse).
      const decisionMs = Math.round((performance.now() - startedAt) * 100) / 100;
      log.info({ dialed: facts.dialed ?? facts.dialedRaw, caller: facts.caller, ...admission, duplicate, decisionMs }, 'call decision');
      return { plan: admission, duplicate };
    } catch (err) {
      // Without the ledger we cannot credit anyone, so nobody is answered.
      log.error({ err, dialed: facts.dialedRaw }, 'call decision failed: refusing unanswered');
      return { plan: { action: 'reject', outcome: 'failed', language: this.opts.defaultLanguage }, duplicate: false };
    }
  }

  /** The script for the decision: each lives in ivr/scripts/, one file per kind of call. */
  private follow(call: Call, plan: CallPlan, opts: { seenBefore: boolean }): Promise<void> {
    switch (plan.action) {
      case 'reject':
        return refuse(call, plan);
      case 'answer':
        if (plan.unit === 'second') return payPerSecond(call, plan, this.db, opts);
        return payPerCall(call, plan, this.db, opts);
      case 'answer_for_code':
        return accessCode(call, plan, this.db, opts);
      case 'conclude':
        return conclude(call, plan);
    }
  }

  /**
   * The end of every call this process follows, whatever stopped its script: hang up if the
   * caller is still there and nobody has, then close the record. Never rejects.
   */
  private async finish(s: Call): Promise<void> {
    try {
      if (s.stopped) return;
      if (!s.ended && !s.hangupDone) await this.hangUp(s);
      // Asterisk reports the end within milliseconds, with its cause; unless the link is gone.
      if (!s.ended) await sleep(this.opts.endGraceMs ?? 5_000, s.abort.signal);
      if (s.stopped) return;
      await s.lateAnswer;
      await this.closeRecord(s.channelId, s.ended ?? { channelId: s.channelId, cause: null, causeText: null }, s.log);
    } finally {
      if (this.sessions.get(s.channelId) === s) this.sessions.delete(s.channelId);
    }
  }

  /**
   * Hangs up a channel the script left up, or whose hang-up Asterisk did not take (unreachable,
   * no answer within the timeout): asked again, pausing longer each time, until Asterisk takes it
   * or reports the end. Never rejects.
   */
  private async hangUp(s: Call): Promise<void> {
    // The script's reason if it asked; before the answer, congestion (503) like any refusal:
    // never a 200 OK from here.
    const reason = s.hangupReason ?? (s.answered ? 'normal' : 'congestion');
    let pauseMs = this.opts.hangupRetryMs ?? 1_000;
    for (let attempt = 1; ; attempt++) {
      try {
        await s.hangup(reason);
        return;
      } catch (err) {
        if (err instanceof TelephonyError && err.channelGone) return;
        const last = attempt === HANGUP_ATTEMPTS;
        s.log[last ? 'error' : 'warn']({ err, attempt }, last ? 'hang-up failed: the channel may still be up' : 'hang-up failed, asking again');
        if (last || !(await sleep(pauseMs, s.abort.signal))) return;
        pauseMs *= 2;
      }
    }
  }

  /** Closes the call record (idempotent), retrying while the database fails. Never rejects. */
  private async closeRecord(channelId: string, end: ChannelEnd, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { call, completed } = await endCall(this.db, channelId, { cause: end.cause, causeText: end.causeText, lost: end.lost ?? false, unanswered: end.answerCrossed ?? false });
        if (completed) purchasesCompleted.inc({ mode: completed.mode });
        if (call) {
          recordCallEnd(call);
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
