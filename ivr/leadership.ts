// One active IVR worker per Asterisk node, enforced rather than assumed. Asterisk lets a second
// websocket on the same ARI application take it over silently, so the workers of a node elect
// one among themselves through PostgreSQL (db/node-lock.ts) and only the holder connects its
// ARI application; the others stand by and try again every second.
//
// - A standby takes over within about a second of the holder's death, kill -9 included: the
//   server frees the lock as soon as it sees the socket close. The new holder connects ARI,
//   and its resync takes up the channels still in the application.
// - A holder that can no longer prove it holds the lock stops serving at once (fencing): its
//   lock connection closed, or a check did not answer within `checkTimeoutMs`. It stops its
//   ARI application before anything else, then stands by again.
// - Until a new holder is connected, the node's dialplan fallback refuses calls unanswered.
import type { Logger } from 'pino';
import { openNodeLockSession, type NodeLockSession } from '../db/node-lock.js';

/** What the holder runs: started on election, stopped (promptly) when leadership ends. */
export interface LeaderRole {
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  databaseUrl: string;
  node: string;
  /** Standby: pause between attempts to take the lock. */
  retryMs?: number;
  /** Holder: pause between checks that the lock is still held. */
  checkMs?: number;
  /** Any lock query not answered within this counts as a lost lock. */
  checkTimeoutMs?: number;
}

export class Leadership {
  private stopped = false;
  private session: NodeLockSession | null = null;
  private role: LeaderRole | null = null;
  /** Wakes the current wait when the lock connection closes or stop() is called. */
  private wake = new AbortController();
  /** Aborted by stop() only: the pause between two sessions is not cut short by a close. */
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private resigning: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: LeadershipOptions,
    private readonly log: Logger,
    private readonly lead: () => LeaderRole,
  ) {}

  get isLeader(): boolean {
    return this.role !== null;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops serving (if it was) and releases the lock. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wake.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const retryMs = this.opts.retryMs ?? 1_000;
    let waitingLogged = false;
    while (!this.stopped) {
      this.wake = new AbortController();
      const session = openNodeLockSession({
        databaseUrl: this.opts.databaseUrl,
        node: this.opts.node,
        applicationName: `sanscode-ivr:${this.opts.node}:${process.pid}`,
        onClosed: () => {
          if (this.session !== session) return; // one we closed ourselves
          // Fence first: with the connection gone the lock may already be someone else's.
          if (this.role) void this.resign('lock connection closed');
          this.wake.abort();
        },
      });
      this.session = session;
      try {
        while (!this.stopped && !(await this.deadline(session.tryAcquire()))) {
          if (!waitingLogged) this.log.info('IVR standby: another worker serves this node');
          waitingLogged = true;
          await sleep(retryMs, this.wake.signal);
        }
        if (this.stopped) break;
        this.log.info('IVR leadership acquired: serving this node');
        this.role = this.lead();
        waitingLogged = false;
        while (!this.stopped) {
          await sleep(this.opts.checkMs ?? 1_000, this.wake.signal);
          if (this.stopped) break;
          if (!this.role || !(await this.deadline(session.stillHeld()))) throw new Error('the lock session changed');
        }
      } catch (err) {
        if (!this.stopped) this.log.warn({ err: (err as Error).message, leader: this.isLeader }, 'IVR leadership check failed');
      } finally {
        await this.resign(this.stopped ? 'stopping' : 'lock lost');
        this.session = null;
        await session.close().catch(() => {});
      }
      // A server that refuses connections closes each session at once: pause all the same.
      if (!this.stopped) await sleep(retryMs, this.stopping.signal);
    }
  }

  /** Stops the role if it runs; a second call waits for the first one's stop. */
  private resign(why: string): Promise<void> {
    const role = this.role;
    if (role) {
      this.role = null;
      this.log[why === 'stopping' ? 'info' : 'warn']({ why }, 'IVR leadership ended: ARI application stopped');
      this.resigning = role.stop().catch((err: unknown) => this.log.error({ err }, 'stopping the IVR failed'));
    }
    return this.resigning;
  }

  /** The lock query's answer, or a rejection once `checkTimeoutMs` has passed. */
  private deadline<T>(query: Promise<T>): Promise<T> {
    const ms = this.opts.checkTimeoutMs ?? 2_500;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      query,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`lock query unanswered after ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
