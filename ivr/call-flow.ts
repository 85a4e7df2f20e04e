// What happens to one call, from StasisStart to hang-up, as a short sequence of verbs over the
// Telephony interface. All decisions come from domain/ (via the ledger) and all state lives
// in the database, so a restarted IVR can pick up channels that are still up (resync()).
import type { Logger } from 'pino';
import { callerToE164, toE164 } from '../core/phone.js';
import type { Database } from '../db/client.js';
import { admitCall, countCall, endCall, getCall, markAnswered, openCalls } from '../db/ledger/index.js';
import { afterCount, greeting, priceAnnouncement, refusal, type Admission, type CallFacts, type CallPlan } from '../domain/index.js';
import type { HangupInfo, IncomingCall, Telephony } from './telephony.js';

export interface CallFlowOptions {
  defaultRegion: string;
  defaultLanguage: 'fr' | 'en';
  maxCallSeconds: number;
}

/** Per-channel in-memory state: only what is needed to stop waiting when the caller hangs up. */
interface Session {
  hungUp: Promise<void>;
  markHungUp: () => void;
  /** Set when the hang-up arrived before the call was even recorded. */
  earlyHangup?: HangupInfo;
  /** This process stopped following the call (shutdown); another IVR may take it up. */
  stopped?: boolean;
}

export class CallFlow {
  private readonly sessions = new Map<string, Session>();

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

  async callStarted(call: IncomingCall): Promise<void> {
    const session = this.openSession(call.channelId);
    const facts: CallFacts = {
      channelId: call.channelId,
      asteriskId: call.asteriskId,
      dialedRaw: call.dialedRaw,
      dialed: toE164(call.dialedRaw, this.opts.defaultRegion),
      callerRaw: call.callerRaw,
      caller: callerToE164(call.callerRaw, this.opts.defaultRegion),
    };
    const log = this.log.child({ channelId: call.channelId });
    let admission: CallPlan;
    let duplicate = false;
    try {
      const result = await admitCall(this.db, facts, { maxCallSeconds: this.opts.maxCallSeconds, defaultLanguage: this.opts.defaultLanguage });
      admission = result.admission;
      duplicate = result.duplicate;
      log.info({ dialed: facts.dialed ?? facts.dialedRaw, caller: facts.caller, ...admission, duplicate: result.duplicate }, 'call decision');
    } catch (err) {
      // Without the ledger we cannot credit anyone, so nobody is answered.
      log.error({ err, dialed: facts.dialedRaw }, 'call decision failed: refusing unanswered');
      admission = { action: 'reject', outcome: 'failed', language: this.opts.defaultLanguage };
    }
    if (session.stopped) return;
    if (session.earlyHangup) {
      // The caller hung up while we were deciding: close the record we just wrote.
      await this.callEnded(session.earlyHangup);
      return;
    }
    await this.run(call.channelId, admission, session, log, duplicate);
  }

  async callEnded(info: HangupInfo): Promise<void> {
    const session = this.sessions.get(info.channelId);
    this.sessions.delete(info.channelId);
    if (session) {
      session.earlyHangup = info;
      session.markHungUp();
    }
    try {
      const { call } = await endCall(this.db, info.channelId, { cause: info.cause, causeText: info.causeText });
      if (call) {
        this.log.info(
          { channelId: info.channelId, outcome: call.outcome, answeredSeconds: call.answeredSeconds, cause: info.cause, purchaseId: call.purchaseId },
          'call ended',
        );
      }
    } catch (err) {
      // The call stays open in the ledger; the next resync closes it.
      this.log.error({ err, channelId: info.channelId }, 'could not record call end');
    }
  }

  /**
   * Stops following calls (shutdown): nothing more is counted or played by this process. The
   * channels stay in Asterisk's application and the next IVR to connect takes them up.
   */
  stop(): void {
    for (const session of this.sessions.values()) {
      session.stopped = true;
      session.markHungUp();
    }
    this.sessions.clear();
  }

  /**
   * After (re)connecting to Asterisk: close the calls whose channels vanished while we were
   * away, and take up the channels that are still in our application.
   */
  async resync(asteriskId: string | null, live: IncomingCall[]): Promise<void> {
    const liveIds = new Set(live.map((c) => c.channelId));
    for (const call of await openCalls(this.db, asteriskId)) {
      if (!liveIds.has(call.channelId)) {
        await endCall(this.db, call.channelId, { lost: true });
        this.log.warn({ channelId: call.channelId }, 'call lost while the IVR was away');
      }
    }
    for (const call of live) {
      if (this.sessions.has(call.channelId)) continue;
      this.log.info({ channelId: call.channelId }, 'resuming call after reconnect');
      // callStarted is idempotent on the channel id: it returns the recorded decision.
      void this.callStarted(call).catch((err) => this.log.error({ err, channelId: call.channelId }, 'resume failed'));
    }
  }

  private openSession(channelId: string): Session {
    const existing = this.sessions.get(channelId);
    if (existing) return existing;
    let markHungUp!: () => void;
    const hungUp = new Promise<void>((resolve) => (markHungUp = resolve));
    const session = { hungUp, markHungUp };
    this.sessions.set(channelId, session);
    return session;
  }

  private async run(channelId: string, admission: CallPlan, session: Session, log: Logger, duplicate: boolean): Promise<void> {
    try {
      if (admission.action === 'reject') await this.refuse(channelId, admission);
      else if (admission.action === 'answer') await this.serve(channelId, admission, session, log, duplicate);
      else {
        // Settled while the IVR was away (restart): say where the purchase stands, hang up.
        await this.phone.play(channelId, afterCount(admission.callsRemaining), admission.language);
        await this.phone.hangup(channelId, 'normal');
      }
    } catch (err) {
      // Most often the caller hung up under us (ARI answers 404): nothing left to do.
      if (this.sessions.has(channelId)) log.warn({ err }, 'call flow interrupted');
    }
  }

  /** Refused call: never answered, so never billed. */
  private async refuse(channelId: string, admission: Extract<Admission, { action: 'reject' }>): Promise<void> {
    await this.phone.progress(channelId);
    await this.phone.play(channelId, refusal(admission.outcome), admission.language);
    await this.phone.hangup(channelId, admission.outcome === 'failed' ? 'congestion' : 'busy');
  }

  private async serve(
    channelId: string,
    admission: Extract<Admission, { action: 'answer' }>,
    session: Session,
    log: Logger,
    duplicate: boolean,
  ): Promise<void> {
    // Only a channel seen before (IVR restart) may already be answered: no extra read per call.
    const recorded = duplicate ? await getCall(this.db, channelId) : null;
    if (!recorded?.answeredAt) {
      if (admission.priceAnnouncement) {
        // The mandatory price announcement must be free: play it before answering.
        await this.phone.progress(channelId);
        await this.phone.play(channelId, priceAnnouncement(admission.priceAnnouncement), admission.language);
      }
      await this.phone.answer(channelId);
      await markAnswered(this.db, channelId);
    }
    // A call taken up after a restart has heard its greeting and run part of its minimum: no
    // second greeting, and the ledger says how much is left (too_early) rather than waiting
    // the whole minimum again on the caller's bill.
    const resumed = Boolean(recorded?.answeredAt);
    const greetingDone = resumed ? Promise.resolve() : this.phone.play(channelId, greeting(admission.callsRemaining), admission.language);
    let result = await this.waitThenCount(channelId, resumed ? 0 : admission.minCallSeconds, session);
    if (!result) return; // caller hung up before the minimum: endCall records too_short
    await greetingDone;
    if (!result.counted) {
      log.warn({ reason: result.reason }, 'answered call not credited');
      await this.phone.hangup(channelId, 'normal');
      return;
    }
    log.info({ purchaseId: result.purchase.id, callsRemaining: result.purchase.callsRemaining, completed: result.completed }, 'call counted');
    await this.phone.play(channelId, afterCount(result.purchase.callsRemaining), admission.language);
    await this.phone.hangup(channelId, 'normal');
  }

  /** Waits for the minimum by the database's clock, then credits; null if the caller left first. */
  private async waitThenCount(channelId: string, minCallSeconds: number, session: Session) {
    let waitMs = minCallSeconds * 1000;
    for (;;) {
      const stillThere = await sleepUnless(waitMs, session.hungUp);
      if (!stillThere) return null;
      const result = await countCall(this.db, channelId);
      if (result.counted || result.reason !== 'too_early') return result;
      // Our timer and the database clock differ by a few milliseconds: wait the difference.
      waitMs = Math.ceil(result.secondsLeft * 1000) + 20;
    }
  }
}

/** Resolves true after `ms`, or false as soon as `abort` settles. */
function sleepUnless(ms: number, abort: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms))),
    abort.then(() => false),
  ]).finally(() => clearTimeout(timer));
}
