// A worker process that only runs the election for a node (no Asterisk): prints "leading" when
// elected and "resigned" when it stops serving. test/cluster/leadership.test.ts kills it.
import { pino } from 'pino';
import { Leadership } from '../../ivr/leadership.js';

const [databaseUrl, node] = process.argv.slice(2) as [string, string];
const leadership = new Leadership({ databaseUrl, node }, pino({ level: 'silent' }), () => {
  process.stdout.write('leading\n');
  return { stop: async () => void process.stdout.write('resigned\n') };
});
leadership.start();
process.once('SIGTERM', () => void leadership.stop().then(() => process.exit(0)));
