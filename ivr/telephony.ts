// The narrow interface the call flow drives. ivr/ari.ts implements it over ari-client; unit
// tests implement it in memory. Keeping it this small is what keeps the flow testable.
import type { Media } from '../domain/index.js';

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
}

export type HangupReason = 'normal' | 'busy' | 'congestion' | 'no_answer';

export interface Telephony {
  /** Sends 183 Session Progress so prompts reach the caller as early media, unbilled. */
  progress(channelId: string): Promise<void>;
  answer(channelId: string): Promise<void>;
  /** Plays the media in order; resolves when done, or at once if the channel is gone. */
  play(channelId: string, media: Media, language: 'fr' | 'en'): Promise<void>;
  hangup(channelId: string, reason: HangupReason): Promise<void>;
  /** Channels currently in our application on this node, for resync after a reconnect. */
  liveCalls(): Promise<IncomingCall[]>;
}

export interface TelephonyEvents {
  callStarted(call: IncomingCall): void;
  callEnded(info: HangupInfo): void;
  /** The connection to Asterisk is (again) up: time to resync. */
  connected(asteriskId: string | null): void;
}
