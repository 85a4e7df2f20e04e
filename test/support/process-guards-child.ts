// A process with the guards of bin/sanscode.ts, for test/unit/process-guards.test.ts:
// `rejections` lets two promise rejections go unhandled, then says it is still alive;
// `exception` throws from a timer, and exits 1 the way sanscode's shutdown does.
import { pino } from 'pino';
import { installProcessGuards } from '../../bin/process-guards.js';
import { TelephonyError } from '../../ivr/telephony.js';

const log = pino({ level: 'info' });
installProcessGuards(log, () => {
  log.info('orderly shutdown');
  setTimeout(() => process.exit(1), 10);
});
if (process.argv[2] === 'rejections') {
  void Promise.reject(new TelephonyError('Channel not found', '1795918163.0', 'play', true));
  setTimeout(() => void Promise.reject(new Error('not about a call')), 50);
  setTimeout(() => log.info('still alive'), 200);
} else {
  setTimeout(() => {
    throw new TelephonyError('bug', '1795918163.1', 'answer', false);
  }, 10);
  setTimeout(() => log.info('still alive'), 5_000);
}
