// A process that credits one call and has its connection cut under it (postgres-failover test).
// In a process of its own because postgres.js, writing the transaction's ROLLBACK on a
// connection the server just terminated, may throw from a timer (connection.js nextWrite): the
// IVR's process guard handles that in production (orderly exit, restart); a test runner would
// report it as an error of whatever test runs next. Prints "rejected" when the credit failed.
import { openDatabase } from '../../db/client.js';
import { countCall } from '../../db/ledger/index.js';

const [url, channelId] = process.argv.slice(2);
const handle = await openDatabase({ databaseUrl: url!, migrate: false, poolSize: 1 });
try {
  await countCall(handle.db, channelId!);
  console.log('applied');
} catch {
  console.log('rejected');
}
process.exit(0);
