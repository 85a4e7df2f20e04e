// The call bench reads each call's time to early media from SIPp's message log (bench/sipp.ts):
// SIPp's own response times are whole milliseconds on a coarse clock. A cheap check of that
// reading, on a log shaped like SIPp 3.6's -trace_msg output.
import { describe, expect, it } from 'vitest';
import { earlyMediaTimes } from '../../bench/sipp.js';

const message = (time: string, direction: 'sent' | 'received', firstLine: string, callId: string) =>
  `----------------------------------------------- 2026-11-29 ${time}\nUDP message ${direction === 'sent' ? 'sent (600 bytes):' : 'received [300] bytes :'}\n\n${firstLine}\nVia: SIP/2.0/UDP 127.0.0.1:5400;branch=z9hG4bK-1\nCall-ID: ${callId}\nCSeq: 1 INVITE\n\n`;

describe('earlyMediaTimes', () => {
  it('gives, per call, the first INVITE sent to the first 183 received, to the microsecond', () => {
    const log = [
      message('05:18:25.400875', 'sent', 'INVITE sip:bench-progress@127.0.0.1:5060 SIP/2.0', '1-20@127.0.0.1'),
      message('05:18:25.401000', 'sent', 'INVITE sip:bench-progress@127.0.0.1:5060 SIP/2.0', '2-20@127.0.0.1'),
      message('05:18:25.401472', 'received', 'SIP/2.0 100 Trying', '1-20@127.0.0.1'),
      // A retransmitted INVITE does not restart the clock.
      message('05:18:25.900875', 'sent', 'INVITE sip:bench-progress@127.0.0.1:5060 SIP/2.0', '1-20@127.0.0.1'),
      message('05:18:25.903199', 'received', 'SIP/2.0 183 Session Progress', '1-20@127.0.0.1'),
      message('05:18:25.903500', 'received', 'SIP/2.0 183 Session Progress', '1-20@127.0.0.1'),
      message('05:18:25.403500', 'received', 'SIP/2.0 183 Session Progress', '2-20@127.0.0.1'),
      // A call that never got early media has no time.
      message('05:18:26.000000', 'sent', 'INVITE sip:bench-progress@127.0.0.1:5060 SIP/2.0', '3-20@127.0.0.1'),
      message('05:18:26.001000', 'received', 'SIP/2.0 503 Service Unavailable', '3-20@127.0.0.1'),
    ].join('');
    const times = earlyMediaTimes(log);
    expect(times).toHaveLength(2);
    expect(times[0]).toBeCloseTo(502.324, 2);
    expect(times[1]).toBeCloseTo(2.5, 2);
  });
});
