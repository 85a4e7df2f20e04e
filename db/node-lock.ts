// The lock that makes one IVR worker per Asterisk node the active one: a session-level
// PostgreSQL advisory lock, held by a connection of its own for as long as the worker serves.
// PostgreSQL releases it when that session ends, however it ends: the worker closes it, its
// process dies (even kill -9: the kernel closes the socket and the backend sees it at once),
// or the server stops. The policy around it (retry, fencing) is in ivr/leadership.ts.
//
// Who holds which node, for operators and tests (application_name names node and process):
//   select a.application_name, a.client_addr, a.backend_start from pg_locks l
//     join pg_stat_activity a using (pid)
//    where l.locktype = 'advisory' and l.classid = 72150002 and l.objsubid = 2 and l.granted;
import postgres from 'postgres';

/** First key of the two-key advisory lock (the second is hashtext of the node's name). */
export const NODE_LOCK_CLASS = 7215_0002;

export interface NodeLockSession {
  /** One attempt, never waiting: true when this session holds the node's lock. */
  tryAcquire(): Promise<boolean>;
  /**
   * True while the session that acquired the lock is still the same server backend (then it
   * still holds the lock: only that session could release it, and it never does).
   */
  stillHeld(): Promise<boolean>;
  /** Ends the session at once; the server releases the lock if it was held. */
  close(): Promise<void>;
}

export interface NodeLockOptions {
  databaseUrl: string;
  node: string;
  /** Shown in pg_stat_activity.application_name. */
  applicationName: string;
  /** Called as soon as the connection closes, whoever closed it. */
  onClosed: () => void;
}

export function openNodeLockSession(opts: NodeLockOptions): NodeLockSession {
  const sql = postgres(opts.databaseUrl, {
    max: 1,
    // The lock lives exactly as long as this connection: never recycle it (0: no timer).
    max_lifetime: 0,
    idle_timeout: 0,
    connect_timeout: 5,
    fetch_types: false,
    // Client side: notice a dead server on an idle socket.
    keep_alive: 5,
    connection: {
      application_name: opts.applicationName,
      // Server side: a holder cut off by the network (no FIN, no RST) is dropped after about
      // 5 + 3 × 2 = 11 s, which frees the lock for a standby. The holder itself stops serving
      // sooner (its own check fails within seconds), so two workers never serve one node.
      tcp_keepalives_idle: '5',
      tcp_keepalives_interval: '2',
      tcp_keepalives_count: '3',
    },
    onnotice: () => {},
    onclose: () => opts.onClosed(),
  });
  const key = `sanscode-ivr:${opts.node}`;
  let heldBy: number | null = null;
  return {
    async tryAcquire() {
      const [row] = await sql<{ held: boolean; pid: number }[]>`
        select pg_try_advisory_lock(${NODE_LOCK_CLASS}::int, hashtext(${key})) as held, pg_backend_pid() as pid`;
      if (row!.held) heldBy = row!.pid;
      return row!.held;
    },
    async stillHeld() {
      if (heldBy === null) return false;
      const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
      // Another pid: postgres.js reconnected behind our back, to a session without the lock.
      return row!.pid === heldBy;
    },
    close: () => sql.end({ timeout: 0 }),
  };
}
