// The hold sound loop of per-second calls (ivr/scripts/hold-sound.ts) over the fake telephony:
// looped while resumed, cut (never queued) when paused, silent for good once closed or broken.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { Call } from '../../ivr/call.js';
import { HoldSound } from '../../ivr/scripts/hold-sound.js';
import { FakeTelephony } from '../support/fake-telephony.js';
import { waitFor } from '../support/wait.js';

function holdOn(phone: FakeTelephony, channelId: string) {
  // The loop never answers, so the ledger is never reached.
  const call = new Call(channelId, pino({ level: 'silent' }), 1, phone, null as unknown as Database);
  return { call, hold: new HoldSound(call, ['sound:hold-music'], 'fr') };
}

const plays = (phone: FakeTelephony, id: string) => phone.of(id).filter((v) => v.startsWith('play')).length;

describe('hold sound', () => {
  it('loops until paused, is cut at once, and loops again when resumed', async () => {
    const phone = new FakeTelephony();
    phone.playMs = 1100; // longer than the minimum loop period
    const { hold } = holdOn(phone, 'c1');
    hold.resume();
    hold.resume(); // already looping: no second sound
    await waitFor('a second round of the sound', () => plays(phone, 'c1') === 2, 5000);
    await hold.pause();
    expect(phone.cancelledPlays).toEqual(['c1 sound:hold-music']);
    hold.resume();
    await waitFor('the sound again', () => plays(phone, 'c1') === 3);
    await new Promise((r) => setTimeout(r, 50)); // playing, not just requested
    await hold.close();
    hold.resume(); // closed: stays silent
    await new Promise((r) => setTimeout(r, 50));
    expect(plays(phone, 'c1')).toBe(3);
    expect(phone.cancelledPlays).toHaveLength(2);
    expect(phone.overlapped.has('c1')).toBe(false);
  });

  it('replays a sound shorter than a second only once a second has passed', async () => {
    const phone = new FakeTelephony(); // plays end at once
    const { hold } = holdOn(phone, 'c2');
    hold.resume();
    await new Promise((r) => setTimeout(r, 1500));
    await hold.close();
    expect(plays(phone, 'c2')).toBe(2);
  });

  it('stays silent once the sound proved unplayable, and when the call has ended', async () => {
    const phone = new FakeTelephony();
    const { hold } = holdOn(phone, 'c3');
    phone.failAt('c3', 0, 'unreachable');
    hold.resume();
    await hold.pause();
    hold.resume();
    await hold.pause();
    expect(phone.of('c3')).toEqual(['play[fr] sound:hold-music -> unreachable']);
    const ended = holdOn(phone, 'c4');
    ended.call.abort.abort();
    ended.hold.resume();
    await ended.hold.pause();
    expect(phone.of('c4')).toEqual([]);
  });
});
