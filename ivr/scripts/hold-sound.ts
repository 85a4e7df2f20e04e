// The hold sound of a per-second call: the operator's sound for a number (holdSound), looped
// between the time-remaining announcements so the caller does not sit in silence while billed.
// The script pauses it before anything else is said (the playback is cancelled and stopped in
// Asterisk, so the announcement never queues behind it) and resumes it afterwards.
import type { Language, Media } from '../../domain/index.js';
import type { Call } from '../call.js';

/**
 * A sound shorter than this is replayed only after this long: a broken or empty file must not
 * turn the loop into a stream of ARI requests.
 */
const MIN_LOOP_MS = 1000;

export class HoldSound {
  /** Aborts the loop running now; null while paused. */
  private running: AbortController | null = null;
  private loop: Promise<void> = Promise.resolve();
  /** The sound could not be played: it is optional, so the call goes on in silence. */
  private broken = false;
  /** The script is done with the call: an announcement ending late must not start it again. */
  private closed = false;

  constructor(
    private readonly call: Call,
    private readonly media: Media,
    private readonly language: Language,
  ) {}

  /** Starts looping (no-op if it already is, or if the sound proved unplayable). */
  resume(): void {
    if (this.running || this.broken || this.closed || this.call.signal.aborted) return;
    const running = new AbortController();
    this.running = running;
    this.loop = this.playUntil(running.signal);
  }

  /** Cuts the sound; resolves once it has stopped. */
  async pause(): Promise<void> {
    this.running?.abort();
    this.running = null;
    await this.loop;
  }

  /** Cuts the sound for good. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pause();
  }

  private async playUntil(paused: AbortSignal): Promise<void> {
    while (!paused.aborted) {
      const started = performance.now();
      const result = await this.call.play(this.media, this.language, paused);
      if (result === 'cancelled') return;
      if (result === 'failed') {
        this.broken = true;
        this.call.log.warn({ media: this.media }, 'hold sound cannot be played: silence between announcements');
        return;
      }
      const tooShort = MIN_LOOP_MS - (performance.now() - started);
      if (tooShort > 0 && !(await this.call.wait(tooShort, AbortSignal.any([this.call.signal, paused])))) return;
    }
  }
}
