// One call as the IVR's scripts see it: its channel, its log, its cancellation, and the verbs a
// script may use (progress, play, answer, hang up, wait). Each verb goes to the Telephony
// interface with this call's abort signal, and records what the flow must know to end the call
// well: was it answered (an answered caller is never left in silence), has it been hung up.
import type { Logger } from 'pino';
import type { Database } from '../db/client.js';
import { markAnswered } from '../db/ledger/index.js';
import type { Language, Media } from '../domain/index.js';
import type { HangupInfo, HangupReason, PlayResult, Telephony } from './telephony.js';

/** How a channel ended; `lost` when it vanished while the connection to Asterisk was down. */
export type ChannelEnd = HangupInfo & { lost?: boolean };

export class Call {
  /** Aborted when the channel ends or this process stops following it: cancels plays and waits. */
  readonly abort = new AbortController();
  /** Set once Asterisk reported the end of the channel (or it was found gone). */
  ended: ChannelEnd | undefined;
  /** Shutdown: the channel and its record are left to the next IVR. */
  stopped = false;
  /** The caller is being billed: every way out from here hangs up. */
  answered = false;
  /** The answer request failed: an answer Asterisk reports after this is a late one. */
  answerFailed = false;
  /** Recording a late answer in the ledger; the record is closed only after it. */
  lateAnswer: Promise<void> | undefined;
  /** Why the IVR asked for the hang-up (whether or not Asterisk could do it); undefined: it has not. */
  hangupReason: HangupReason | undefined;
  /** Asterisk took the IVR's hang-up: the channel is ending, nothing more to ask. */
  hangupDone = false;
  /** The 183 once asked for: it is sent once per call, whoever asks first. */
  private progressSent: Promise<void> | undefined;

  constructor(
    readonly channelId: string,
    readonly log: Logger,
    /** Opening order: tells the calls a channel listing must contain from the ones newer than it. */
    readonly seq: number,
    private readonly phone: Telephony,
    private readonly db: Database,
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /**
   * 183 Session Progress: what is played next reaches the caller as free early media. Sent once:
   * the flow sends it as the call arrives, and a script asking again waits for that same one.
   */
  progress(): Promise<void> {
    return (this.progressSent ??= this.phone.progress(this.channelId));
  }

  /**
   * Never rejects: anything short of `finished` means the script should stop. `until` cuts this
   * play short (it is cancelled and stopped) without ending the call.
   */
  play(media: Media, language: Language, until?: AbortSignal): Promise<PlayResult> {
    return this.phone.play(this.channelId, media, language, until ? AbortSignal.any([this.signal, until]) : this.signal);
  }

  /** Answers (billing starts) and notes the moment in the ledger: the minimum runs from here. */
  async answer(): Promise<void> {
    // A 183 still on its way must not arrive after the 200 (separate HTTP requests to Asterisk
    // can be handled in either order). Its failure, if any, is the answer's to find.
    await this.progressSent?.catch(() => {});
    try {
      await this.phone.answer(this.channelId);
    } catch (err) {
      this.answerFailed = true;
      throw err;
    }
    this.answered = true;
    await markAnswered(this.db, this.channelId);
  }

  /** A call taken up after an IVR restart was answered by the previous process. */
  alreadyAnswered(): void {
    this.answered = true;
  }

  async hangup(reason: HangupReason): Promise<void> {
    this.hangupReason = reason;
    await this.phone.hangup(this.channelId, reason);
    this.hangupDone = true;
  }

  /** The next DTMF key the caller presses within `ms` ('0'-'9', '*', '#'), or null (none, or the call ended). */
  digit(ms: number): Promise<string | null> {
    return this.phone.nextDigit(this.channelId, ms, this.signal);
  }

  /** Resolves true after `ms`, or false as soon as the call is over. */
  wait(ms: number, signal: AbortSignal = this.signal): Promise<boolean> {
    return sleep(ms, signal);
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (at once if it has). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
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
