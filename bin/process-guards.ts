// The process-level safety net under the call path (the flow itself handles every failure of a
// call: this only catches what escaped, i.e. a bug).
//
// - Unhandled promise rejection: logged at fatal (with the call's channelId when the error
//   carries one, as TelephonyError does) and counted; the process keeps running. A rejected
//   promise leaves no half-done synchronous state behind, and stopping would cut every call
//   in progress and, with `sanscode all`, the API too.
// - Uncaught exception: logged at fatal, then the process shuts down in order and exits 1 for
//   its supervisor to restart it (docker compose: restart: unless-stopped). A throw may have
//   left in-memory state half-updated, so running on is not safe. The shutdown hands calls
//   over: their channels stay in Asterisk's application and the restarted IVR resumes them.
import type { Logger } from 'pino';

export interface ProcessGuards {
  /** Unhandled rejections seen since start. */
  readonly unhandledRejections: number;
  remove(): void;
}

export function installProcessGuards(log: Logger, onUncaughtException: (err: unknown) => void): ProcessGuards {
  let unhandledRejections = 0;
  const onRejection = (reason: unknown) => {
    unhandledRejections++;
    log.fatal({ err: reason, channelId: channelIdOf(reason), unhandledRejections }, 'unhandled promise rejection (process kept running)');
  };
  const onException = (err: unknown, origin: string) => {
    log.fatal({ err, channelId: channelIdOf(err), origin }, 'uncaught exception: shutting down');
    onUncaughtException(err);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    get unhandledRejections() {
      return unhandledRejections;
    },
    remove() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

/** The channel an error is about, if it says (TelephonyError, or anything with a channelId). */
function channelIdOf(err: unknown): string | undefined {
  const id = err && typeof err === 'object' ? (err as { channelId?: unknown }).channelId : undefined;
  return typeof id === 'string' ? id : undefined;
}
