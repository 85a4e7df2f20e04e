// The narrow interface the call flow drives. ivr/ari.ts implements it over ari-client; unit
// tests implement it in memory. Keeping it this small is what keeps the flow testable.
//
// Any request may fail at any moment (the caller hung up: 404; Asterisk or its websocket went
// away). The contract makes that explicit: `play` never rejects, it says how it ended; the
// other verbs reject only with a TelephonyError naming the channel, which the flow handles.
import type { Language, Media } from '../domain/index.js';

/** A channel that entered our Stasis application. */
export interface IncomingCall {
  channelId: string;
  /** Entity id of the Asterisk node that carries the channel. */
  asteriskId: string | null;
  /** Dialed number as the dialplan passed it (first Stasis argument), not normalised. */
  dialedRaw: string;
  /** Caller ID number as Asterisk reports it, not normalised ('' when absent). */
  callerRaw: string;
}

export interface HangupInfo {
  channelId: string;
  cause: number | null;
  causeText: string | null;
  /**
   * Asterisk reported the channel answered, but the caller's CANCEL had ended the INVITE first:
   * no 200 OK went out, nobody was billed, so the call was never answered whatever the flow saw.
   */
  answerCrossed?: boolean;
}

export type HangupReason = 'normal' | 'busy' | 'congestion' | 'no_answer';

/**
 * How a playback ended: played through; cancelled because the call ended (or this process
 * stopped following it) first; failed because it could not be played or its end was not seen
 * (request refused, connection to Asterisk lost).
 */
export type PlayResult = 'finished' | 'cancelled' | 'failed';

/** A telephony request that failed, tagged with the channel it was for (logged with it). */
export class TelephonyError extends Error {
  override readonly name = 'TelephonyError';
  constructor(
    message: string,
    readonly channelId: string | null,
    readonly operation: string,
    /** Asterisk no longer knows the channel (HTTP 404): the caller has most likely hung up. */
    readonly channelGone: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface Telephony {
  /** Sends 183 Session Progress so prompts reach the caller as early media, unbilled. */
  progress(channelId: string): Promise<void>;
  answer(channelId: string): Promise<void>;
  /**
   * Plays the media in order. Never rejects. Resolves 'cancelled' as soon as `signal` aborts
   * (the caller hung up), whatever the state of the request.
   */
  play(channelId: string, media: Media, language: Language, signal: AbortSignal): Promise<PlayResult>;
  hangup(channelId: string, reason: HangupReason): Promise<void>;
  /**
   * The next DTMF key pressed on the channel after this call ('0'-'9', '*', '#', 'A'-'D'), or
   * null after `timeoutMs` or as soon as `signal` aborts. Never rejects. Keys pressed while
   * nobody waits are dropped.
   */
  nextDigit(channelId: string, timeoutMs: number, signal: AbortSignal): Promise<string | null>;
  /** Channels currently in our application on this node, for resync after a reconnect. */
  liveCalls(): Promise<IncomingCall[]>;
}

export interface TelephonyEvents {
  callStarted(call: IncomingCall): void;
  callEnded(info: HangupInfo): void;
  /**
   * Asterisk reports the channel answered (billing starts), whoever asked: the flow learns
   * of an answer carried out after it had given up on its request.
   */
  callAnswered?(channelId: string): void;
  /** The connection to Asterisk is (again) up: time to resync. */
  connected(asteriskId: string | null): void;
  /** The connection to Asterisk is lost (reconnecting); calls cannot reach us meanwhile. */
  disconnected?(): void;
}
