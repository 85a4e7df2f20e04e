// The ARI adapter without Asterisk: its payload parsers, its mapping from ARI to the Telephony
// contract, and the adapter itself over an in-memory ari-client (test/support/fake-ari.ts):
// causes, live calls, playbacks, request failures, and the reconnect state. The real-Asterisk
// proof of the same paths is in test/e2e.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ARI_EVENTS, AriTelephony, cancelCrossedAnswer, CROSSING_WINDOW_MS, endedCall, liveCallsOf, requestedCause, startedCall, type AriOptions } from '../../ivr/ari.js';
import {
  parseAsteriskInfo,
  parseChannel,
  parseChannelList,
  parseHangupRequest,
  parsePlaybackFinished,
  parseStasisEnd,
  parseStasisStart,
  type AriChannel,
  type AriHangupRequest,
} from '../../ivr/ari-payloads.js';
import { TelephonyError, type HangupInfo, type IncomingCall } from '../../ivr/telephony.js';
import { FakeAsterisk } from '../support/fake-ari.js';
import { waitFor } from '../support/wait.js';

/** A StasisStart exactly as Asterisk 22 sent it for a SIPp call (ids shortened). */
const stasisStartFromAsterisk = {
  type: 'StasisStart',
  timestamp: '2026-11-26T21:10:09.123+0000',
  args: ['0899123456'],
  channel: {
    id: '1764191409.12',
    name: 'PJSIP/carrier-0000000c',
    state: 'Ring',
    protocol_id: '1-4242@127.0.0.1',
    caller: { name: '', number: '0612345678' },
    connected: { name: '', number: '' },
    accountcode: '',
    dialplan: { context: 'premium', exten: '0899123456', priority: 1, app_name: 'Stasis', app_data: 'sanscode,0899123456' },
    creationtime: '2026-11-26T21:10:09.100+0000',
    language: 'fr',
  },
  asterisk_id: '02:42:ac:11:00:02',
  application: 'sanscode',
};

const channel = (id: string, appData: string | null, extra: Partial<AriChannel> = {}): AriChannel => ({
  id,
  caller: { number: '0612345678' },
  ...(appData === null ? {} : { dialplan: { exten: '0899123456', app_name: 'Stasis', app_data: appData } }),
  ...extra,
});

describe('ARI payloads', () => {
  it('reads a StasisStart as Asterisk 22 sends it', () => {
    expect(parseStasisStart(stasisStartFromAsterisk)).toEqual({
      args: ['0899123456'],
      asterisk_id: '02:42:ac:11:00:02',
      channel: {
        id: '1764191409.12',
        state: 'Ring',
        caller: { name: '', number: '0612345678' },
        dialplan: { context: 'premium', exten: '0899123456', app_name: 'Stasis', app_data: 'sanscode,0899123456' },
      },
    });
  });

  it('reads a channel with no caller ID (withheld) but not one without an id', () => {
    expect(parseChannel({ id: 'c1' })).toEqual({ id: 'c1' });
    expect(parseChannel({ id: '' })).toBeNull();
    expect(parseChannel({ caller: { number: '0612345678' } })).toBeNull();
    expect(parseChannel('c1')).toBeNull();
    expect(parseChannel(null)).toBeNull();
  });

  it('turns an event of another shape into null instead of a half-typed value', () => {
    expect(parseStasisStart({ args: ['0899123456'] })).toBeNull(); // no channel
    expect(parseStasisStart({ args: '0899123456', channel: { id: 'c1' } })).toBeNull();
    expect(parseStasisStart({ channel: { id: 'c1' } })).toEqual({ args: [], channel: { id: 'c1' } });
    expect(parseStasisEnd({ channel: {} })).toBeNull();
    expect(parseHangupRequest({ cause: '16', channel: { id: 'c1' } })).toBeNull();
    expect(parseHangupRequest({ cause: 17, soft: false, channel: { id: 'c1' } })).toEqual({ cause: 17, soft: false, channel: { id: 'c1' } });
    expect(parsePlaybackFinished({ playback: { state: 'done' } })).toBeNull();
    expect(parsePlaybackFinished({ playback: { id: 'p1', state: 'failed', media_uri: 'sound:x' } })).toEqual({ playback: { id: 'p1', state: 'failed' } });
  });

  it('reads the entity id of GET /asterisk/info, which may leave out system', () => {
    expect(parseAsteriskInfo({ system: { version: '22.5.0', entity_id: '02:42:ac:11:00:02' }, build: {} })).toEqual({ system: { entity_id: '02:42:ac:11:00:02' } });
    expect(parseAsteriskInfo({ status: {} })).toEqual({});
    expect(parseAsteriskInfo([])).toBeNull();
  });

  it('keeps the readable channels of a listing and refuses what is not a list', () => {
    expect(parseChannelList([{ id: 'c1' }, { name: 'no id' }, 42])).toEqual([{ id: 'c1' }]);
    expect(parseChannelList({ id: 'c1' })).toBeNull();
  });
});

describe('ARI to Telephony mapping', () => {
  it('announces a StasisStart with its first argument as the dialed number', () => {
    const event = parseStasisStart(stasisStartFromAsterisk)!;
    expect(startedCall(event, 'older-id')).toEqual({ channelId: '1764191409.12', asteriskId: '02:42:ac:11:00:02', dialedRaw: '0899123456', callerRaw: '0612345678' });
  });

  it('falls back to the extension without arguments, to the known node without asterisk_id, to an empty caller when withheld', () => {
    const event = parseStasisStart({ channel: { id: 'c1', dialplan: { exten: '+33899123456' } } })!;
    expect(startedCall(event, 'node-1')).toEqual({ channelId: 'c1', asteriskId: 'node-1', dialedRaw: '+33899123456', callerRaw: '' });
    expect(startedCall(parseStasisStart({ channel: { id: 'c2' } })!, null)).toEqual({ channelId: 'c2', asteriskId: null, dialedRaw: '', callerRaw: '' });
  });

  it('takes as live calls only the channels in Stasis for our application, dialed number from app_data', () => {
    const channels = [
      channel('ours', 'sanscode,0899100001'),
      channel('ours-more-args', 'sanscode,0899100002,extra'),
      channel('ours-empty-arg', 'sanscode,'),
      channel('other-app', 'billing,0899100003'),
      channel('prefix-only', 'sanscode2,0899100004'),
      channel('no-args', 'sanscode'),
      channel('in-dialplan', null),
      { id: 'dialing', dialplan: { exten: '0899100005', app_name: 'Dial', app_data: 'sanscode,0899100005' } },
    ];
    expect(liveCallsOf(channels, 'sanscode', 'node-1')).toEqual([
      { channelId: 'ours', asteriskId: 'node-1', dialedRaw: '0899100001', callerRaw: '0612345678' },
      { channelId: 'ours-more-args', asteriskId: 'node-1', dialedRaw: '0899100002', callerRaw: '0612345678' },
      { channelId: 'ours-empty-arg', asteriskId: 'node-1', dialedRaw: '', callerRaw: '0612345678' },
    ]);
  });

  it('takes the cause of a caller hang-up request, never of a soft one (our own) or one without cause', () => {
    expect(requestedCause({ cause: 16, soft: false, channel: { id: 'c1' } })).toBe(16);
    expect(requestedCause({ cause: 17, channel: { id: 'c1' } })).toBe(17);
    expect(requestedCause({ cause: 32, soft: true, channel: { id: 'c1' } })).toBeNull();
    expect(requestedCause({ soft: false, channel: { id: 'c1' } })).toBeNull();
  });

  it.each([
    { request: { cause: 127 }, msSinceUp: 0, crossed: true },
    { request: { cause: 127 }, msSinceUp: CROSSING_WINDOW_MS, crossed: true },
    { request: { cause: 127 }, msSinceUp: CROSSING_WINDOW_MS + 1, crossed: false }, // a session refresh failing later on
    { request: { cause: 127, soft: true }, msSinceUp: 0, crossed: false }, // our own hang-up
    { request: {}, msSinceUp: 0, crossed: false }, // a BYE after the 200 OK
    { request: { cause: 16 }, msSinceUp: 0, crossed: false },
    { request: { cause: 18 }, msSinceUp: 0, crossed: false },
  ])('a hang-up request $request $msSinceUp ms after the Up: CANCEL crossed the answer = $crossed', ({ request, msSinceUp, crossed }) => {
    const event = { type: 'ChannelHangupRequest', channel: { id: 'c1' }, ...request } as unknown as AriHangupRequest;
    expect(cancelCrossedAnswer(event, msSinceUp)).toBe(crossed);
  });

  it('ends a call with the cause recorded, a normal clearing without one, and no text for a cause we do not name', () => {
    expect(endedCall('c1', null)).toEqual({ channelId: 'c1', cause: 16, causeText: 'Normal Clearing' });
    expect(endedCall('c1', 17)).toEqual({ channelId: 'c1', cause: 17, causeText: 'User busy' });
    expect(endedCall('c1', 127)).toEqual({ channelId: 'c1', cause: 127, causeText: 'Interworking, unspecified' });
    expect(endedCall('c1', 41)).toEqual({ channelId: 'c1', cause: 41, causeText: null });
  });
});

// --- The adapter over an in-memory ari-client -------------------------------------------

const running: AriTelephony[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(running.splice(0).map((t) => t.stop()));
});

interface Seen {
  started: IncomingCall[];
  ended: HangupInfo[];
  answered: string[];
  connected: (string | null)[];
  warnings: string[];
}

async function connect(options: Partial<AriOptions> = {}, asterisk = new FakeAsterisk()) {
  const seen: Seen = { started: [], ended: [], answered: [], connected: [], warnings: [] };
  const log = pino({ level: 'warn' }, { write: (line: string) => void seen.warnings.push(JSON.parse(line).msg) });
  const telephony = new AriTelephony({ url: 'http://127.0.0.1:8088', username: 'sanscode', password: 'secret', app: 'sanscode', ...options }, log, asterisk.connect);
  running.push(telephony);
  await telephony.start({
    callStarted: (call) => seen.started.push(call),
    callEnded: (info) => seen.ended.push(info),
    callAnswered: (channelId) => seen.answered.push(channelId),
    connected: (asteriskId) => seen.connected.push(asteriskId),
  });
  await waitFor('the first connected event', () => seen.connected.length === 1);
  return { asterisk, telephony, seen };
}

async function endOf(seen: Seen, channelId: string): Promise<HangupInfo> {
  await waitFor(`the end of ${channelId}`, () => seen.ended.some((e) => e.channelId === channelId));
  return seen.ended.find((e) => e.channelId === channelId)!;
}

/** Lets the fake deliver what it scheduled (request answers, events) on the next ticks. */
const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

const listenersOf = (c: { eventNames(): (string | symbol)[]; listenerCount(e: string | symbol): number }) =>
  c.eventNames().reduce((n, e) => n + c.listenerCount(e), 0);

describe('AriTelephony over a fake ari-client', () => {
  it('reports connected with the entity id Asterisk gives', async () => {
    const { asterisk, seen } = await connect();
    expect(seen.connected).toEqual([asterisk.entityId]);
    expect(asterisk.client.app).toBe('sanscode');
  });

  it('asks Asterisk for only the events it listens to, at each connection', async () => {
    const { asterisk } = await connect();
    await waitFor('the event filter', () => asterisk.allowedEvents !== null);
    expect([...asterisk.allowedEvents!]).toEqual([...ARI_EVENTS]);
    expect(asterisk.requests.filter((r) => r.startsWith('filter sanscode '))).toHaveLength(1);
    asterisk.client.drop();
    asterisk.client.reopen();
    await waitFor('the filter set again', () => asterisk.requests.filter((r) => r.startsWith('filter sanscode ')).length === 2);
  });

  it('a refused event filter is logged; calls go on with every event', async () => {
    const asterisk = new FakeAsterisk();
    asterisk.refuseFilter = true;
    const { telephony, seen } = await connect({}, asterisk);
    await waitFor('the warning', () => seen.warnings.includes('could not set the ARI event filter; every event will be received'));
    asterisk.newCall('c1', '0899123456', '0612345678');
    asterisk.send('PlaybackStarted', { playback: { id: 'x', state: 'playing' } });
    await telephony.answer('c1');
    expect(seen.started).toHaveLength(1);
  });

  it('announces each StasisStart as callStarted, a withheld caller with an empty number', async () => {
    const { asterisk, seen } = await connect();
    asterisk.newCall('c1', '0899123456', '0612345678');
    asterisk.newCall('anon', '0899123456');
    expect(seen.started).toEqual([
      { channelId: 'c1', asteriskId: asterisk.entityId, dialedRaw: '0899123456', callerRaw: '0612345678' },
      { channelId: 'anon', asteriskId: asterisk.entityId, dialedRaw: '0899123456', callerRaw: '' },
    ]);
  });

  describe('hang-up causes', () => {
    it.each([
      [16, 'Normal Clearing'],
      [17, 'User busy'],
      [19, 'No answer'],
      [127, 'Interworking, unspecified'],
    ])('a caller hang-up with cause %i ends the call with it', async (cause, causeText) => {
      const { asterisk, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.callerHangsUp('c1', cause);
      expect(await endOf(seen, 'c1')).toEqual({ channelId: 'c1', cause, causeText });
    });

    it('a BYE without a cause is a normal clearing; a cause we do not name keeps its number', async () => {
      const { asterisk, seen } = await connect();
      asterisk.newCall('bye', '0899123456', '0612345678');
      asterisk.callerHangsUp('bye');
      asterisk.newCall('odd', '0899123456', '0612345678');
      asterisk.callerHangsUp('odd', 41);
      expect(await endOf(seen, 'bye')).toEqual({ channelId: 'bye', cause: 16, causeText: 'Normal Clearing' });
      expect(await endOf(seen, 'odd')).toEqual({ channelId: 'odd', cause: 41, causeText: null });
    });

    it.each([
      ['busy', 17],
      ['congestion', 34],
      ['no_answer', 19],
      ['normal', 16],
    ] as const)('our hang-up with reason %s keeps its cause over the soft request Asterisk echoes (cause 32)', async (reason, cause) => {
      const { asterisk, telephony, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      await telephony.hangup('c1', reason);
      expect(asterisk.requests).toContain(`hangup c1 ${reason}`);
      expect((await endOf(seen, 'c1')).cause).toBe(cause);
    });

    it('the first cause known stands: a caller request already seen is not replaced by our hang-up', async () => {
      const { asterisk, telephony, seen } = await connect();
      const ch = asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.send('ChannelHangupRequest', { cause: 19, soft: false, channel: ch });
      await telephony.hangup('c1', 'busy');
      expect(await endOf(seen, 'c1')).toEqual({ channelId: 'c1', cause: 19, causeText: 'No answer' });
    });

    it('a StasisEnd for a channel that is not ours ends nothing', async () => {
      const { asterisk, seen } = await connect();
      asterisk.send('StasisEnd', { channel: { id: 'stranger' } });
      asterisk.send('ChannelHangupRequest', { cause: 17, channel: { id: 'stranger' } });
      await ticks();
      expect(seen.ended).toEqual([]);
    });
  });

  describe('live calls', () => {
    it('lists the channels in our application, and follows them to their end', async () => {
      const { asterisk, telephony, seen } = await connect();
      // Calls that entered while the websocket was down: their StasisStart was lost.
      asterisk.client.drop();
      asterisk.newCall('missed', '0899100001', '0611111111');
      asterisk.newCall('elsewhere', '0899100002', '0622222222', 'billing');
      asterisk.channels.set('dialing', { id: 'dialing', name: 'PJSIP/carrier-2', state: 'Ring', language: 'fr' });
      asterisk.client.reopen();
      expect(await telephony.liveCalls()).toEqual([{ channelId: 'missed', asteriskId: asterisk.entityId, dialedRaw: '0899100001', callerRaw: '0611111111' }]);
      expect(seen.started).toEqual([]);
      asterisk.callerHangsUp('missed', 17);
      expect(await endOf(seen, 'missed')).toMatchObject({ cause: 17 });
      expect(telephony.heldState.channels).toBe(0);
    });

    it('fails with a TelephonyError when Asterisk cannot be reached or answers something else than a list', async () => {
      const { asterisk, telephony } = await connect();
      asterisk.unreachable = true;
      await expect(telephony.liveCalls()).rejects.toMatchObject({ name: 'TelephonyError', operation: 'list channels', channelGone: false });
      asterisk.unreachable = false;
      asterisk.client.channels.list = async () => ({ message: 'Internal Server Error' });
      await expect(telephony.liveCalls()).rejects.toBeInstanceOf(TelephonyError);
    });
  });

  describe('playbacks', () => {
    it('plays the media in the language asked and settles as finished on PlaybackFinished', async () => {
      const { asterisk, telephony } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      const play = telephony.play('c1', ['sound:sanscode/please-hold', 'number:2'], 'en', new AbortController().signal);
      await waitFor('the play request', () => asterisk.playbacksOf('c1').length === 1);
      expect(asterisk.requests).toContain('play c1 [en] sound:sanscode/please-hold number:2');
      asterisk.finishPlayback(asterisk.playbacksOf('c1')[0]!);
      expect(await play).toBe('finished');
      expect(telephony.heldState.playbacks).toBe(0);
    });

    it('settles as failed when Asterisk reports the playback failed (a missing sound file)', async () => {
      const { asterisk, telephony } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      const play = telephony.play('c1', ['sound:sanscode/missing'], 'fr', new AbortController().signal);
      await waitFor('the play request', () => asterisk.playbacksOf('c1').length === 1);
      asterisk.finishPlayback(asterisk.playbacksOf('c1')[0]!, 'failed');
      expect(await play).toBe('failed');
    });

    it('StasisEnd cancels the plays still running on that channel, and only those', async () => {
      const { asterisk, telephony, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.newCall('c2', '0899123456', '0633333333');
      const gone = telephony.play('c1', ['sound:sanscode/please-hold'], 'fr', new AbortController().signal);
      const other = telephony.play('c2', ['sound:sanscode/please-hold'], 'fr', new AbortController().signal);
      await waitFor('both play requests', () => asterisk.playbacks.size === 2);
      asterisk.callerHangsUp('c1');
      expect(await gone).toBe('cancelled');
      await endOf(seen, 'c1');
      expect(telephony.heldState.playbacks).toBe(1);
      asterisk.finishPlayback(asterisk.playbacksOf('c2')[0]!);
      expect(await other).toBe('finished');
    });

    it('is cancelled at once when the flow aborts it, and on a channel already gone', async () => {
      const { asterisk, telephony } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      const abort = new AbortController();
      const play = telephony.play('c1', ['sound:sanscode/please-hold'], 'fr', abort.signal);
      abort.abort();
      expect(await play).toBe('cancelled');
      expect(await telephony.play('nobody', ['sound:sanscode/please-hold'], 'fr', new AbortController().signal)).toBe('cancelled');
      expect(telephony.heldState.playbacks).toBe(0);
    });

    it('stops in Asterisk a play the flow cuts short, only once its request is answered', async () => {
      const { asterisk, telephony } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      // Cut while the play request is still on its way: the stop must not overtake it.
      const early = new AbortController();
      const first = telephony.play('c1', ['sound:hold-music'], 'fr', early.signal);
      early.abort();
      expect(await first).toBe('cancelled');
      await waitFor('the stop of the first playback', () => asterisk.requests.some((r) => r.startsWith('stop playback')));
      const playIndex = asterisk.requests.indexOf('play c1 [fr] sound:hold-music');
      expect(playIndex).toBeGreaterThanOrEqual(0);
      expect(asterisk.requests.findIndex((r) => r.startsWith('stop playback'))).toBeGreaterThan(playIndex);
      await waitFor('no playback left on c1', () => asterisk.playbacksOf('c1').length === 0);
      // Cut while playing.
      const later = new AbortController();
      const second = telephony.play('c1', ['sound:hold-music'], 'fr', later.signal);
      await waitFor('the second playback', () => asterisk.playbacksOf('c1').length === 1);
      later.abort();
      expect(await second).toBe('cancelled');
      await waitFor('the second playback stopped', () => asterisk.playbacksOf('c1').length === 0);
      // One that had just ended: the stop gets a 404, which changes nothing.
      const third = new AbortController();
      const ended = telephony.play('c1', ['sound:hold-music'], 'fr', third.signal);
      await waitFor('the third playback', () => asterisk.playbacksOf('c1').length === 1);
      const id = asterisk.playbacksOf('c1')[0]!;
      asterisk.playbacks.delete(id);
      third.abort();
      expect(await ended).toBe('cancelled');
      await waitFor('its stop', () => asterisk.requests.includes(`stop playback ${id}`));
      expect(telephony.heldState.playbacks).toBe(0);
    });

    it('sends no stop for a play on a channel that is gone', async () => {
      const { asterisk, telephony, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      const abort = new AbortController();
      const play = telephony.play('c1', ['sound:hold-music'], 'fr', abort.signal);
      await waitFor('the play request', () => asterisk.playbacksOf('c1').length === 1);
      asterisk.callerHangsUp('c1');
      await endOf(seen, 'c1');
      abort.abort();
      expect(await play).toBe('cancelled');
      await new Promise((r) => setTimeout(r, 20));
      expect(asterisk.requests.filter((r) => r.startsWith('stop playback'))).toEqual([]);
    });

    it('fails when the request fails for another reason than a gone channel', async () => {
      const { asterisk, telephony } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.unreachable = true;
      expect(await telephony.play('c1', ['sound:sanscode/please-hold'], 'fr', new AbortController().signal)).toBe('failed');
    });
  });

  describe('request failures', () => {
    it('a request on a channel Asterisk no longer has (404) is a TelephonyError with channelGone', async () => {
      const { telephony } = await connect();
      const err = await telephony.answer('gone').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TelephonyError);
      expect(err).toMatchObject({ channelId: 'gone', operation: 'answer', channelGone: true, message: 'ARI answer: {"message":"Channel not found"}' });
      await expect(telephony.progress('gone')).rejects.toMatchObject({ operation: 'progress', channelGone: true });
      await expect(telephony.hangup('gone', 'busy')).rejects.toMatchObject({ operation: 'hangup', channelGone: true });
    });

    it('Asterisk unreachable is a TelephonyError without channelGone', async () => {
      const { asterisk, telephony } = await connect({ answerGraceMs: 20 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.unreachable = true;
      await expect(telephony.answer('c1')).rejects.toMatchObject({ name: 'TelephonyError', channelId: 'c1', channelGone: false });
    });

    it('a request with no answer fails at its deadline', async () => {
      const { asterisk, telephony } = await connect({ requestTimeoutMs: 50 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.stalled = true;
      await expect(telephony.answer('c1')).rejects.toMatchObject({ message: 'ARI answer: no answer within 50 ms', channelGone: false });
    });
  });

  describe('an answer whose reply does not come', () => {
    it('is an answer when Asterisk reports the channel Up: an answered caller is billed and must be followed as answered', async () => {
      const { asterisk, telephony, seen } = await connect({ requestTimeoutMs: 50, answerGraceMs: 5_000 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.lostReplies = true;
      await expect(telephony.answer('c1')).resolves.toBeUndefined();
      expect(asterisk.channelOf('c1').state).toBe('Up');
      // The flow hears of each answer once, whoever asked for it.
      const channel = asterisk.channelOf('c1');
      asterisk.send('ChannelStateChange', { channel });
      expect(seen.answered).toEqual(['c1']);
      expect(seen.warnings).toContain('answer request failed, but Asterisk reports the channel answered');
    });

    it('waits for the Up report after the deadline: the request may still be carried out', async () => {
      const { asterisk, telephony } = await connect({ requestTimeoutMs: 30, answerGraceMs: 5_000 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.stalled = true;
      const answered = telephony.answer('c1');
      await new Promise((resolve) => setTimeout(resolve, 80)); // past the request's deadline
      const channel = asterisk.channelOf('c1');
      channel.state = 'Up';
      asterisk.send('ChannelStateChange', { channel });
      await expect(answered).resolves.toBeUndefined();
    });

    it('fails when neither the reply nor the Up report comes, or when the channel ends first', async () => {
      const { asterisk, telephony } = await connect({ requestTimeoutMs: 30, answerGraceMs: 30 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.stalled = true;
      await expect(telephony.answer('c1')).rejects.toMatchObject({ message: 'ARI answer: no answer within 30 ms', channelGone: false });
      const { telephony: patient, asterisk: other } = await connect({ requestTimeoutMs: 30, answerGraceMs: 60_000 });
      other.newCall('c3', '0899123456', '0612345678');
      other.stalled = true;
      const started = Date.now();
      const answered = patient.answer('c3').catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 50));
      other.callerHangsUp('c3');
      expect(await answered).toMatchObject({ operation: 'answer', channelGone: false });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(patient.heldState.channels).toBe(0);
    });

    it('a channel in early media is not answered: only Up counts', async () => {
      const { asterisk, telephony } = await connect({ requestTimeoutMs: 30, answerGraceMs: 30 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.stalled = true;
      const channel = asterisk.channelOf('c1');
      channel.state = 'Ring';
      asterisk.send('ChannelStateChange', { channel });
      await expect(telephony.answer('c1')).rejects.toMatchObject({ operation: 'answer' });
    });
  });

  describe("an answer crossed by the caller's CANCEL", () => {
    // Over a real Asterisk the HTTP reply and the websocket events travel apart: with events
    // lagging, the reply comes first. Asterisk 22.10's order in the crossing: Up, hang-up
    // request (cause 127), StasisEnd, and a successful reply.
    it('is no answer when its hang-up request is seen by the time of the reply', async () => {
      const { asterisk, telephony, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      asterisk.cancelCrossesAnswer('c1');
      await expect(telephony.answer('c1')).rejects.toMatchObject({ message: "ARI answer: the caller's CANCEL crossed the answer", operation: 'answer', channelGone: true });
      expect(await endOf(seen, 'c1')).toEqual({ channelId: 'c1', cause: 127, causeText: 'Interworking, unspecified', answerCrossed: true });
      expect(seen.warnings).toContain("the caller's CANCEL crossed the answer: Asterisk reported the channel Up but sent no 200 OK; recorded as not answered");
    });

    it('when the reply comes first, the answer goes through and the call end says it was crossed', async () => {
      const { asterisk, telephony, seen } = await connect({ answerGraceMs: 5_000 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      await waitFor('the call', () => seen.started.length === 1);
      asterisk.eventLagMs = 20;
      asterisk.cancelCrossesAnswer('c1');
      await expect(telephony.answer('c1')).resolves.toBeUndefined();
      expect(await endOf(seen, 'c1')).toMatchObject({ cause: 127, answerCrossed: true });
      expect(telephony.heldState.channels).toBe(0);
    });

    it('is no answer when the hang-up request comes before the Up, even though the request succeeded', async () => {
      const { asterisk, telephony, seen } = await connect({ answerGraceMs: 5_000 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      await waitFor('the call', () => seen.started.length === 1);
      asterisk.eventLagMs = 20;
      asterisk.cancelCrossesAnswer('c1', { hangupFirst: true });
      await expect(telephony.answer('c1')).rejects.toMatchObject({
        message: 'ARI answer: the caller hung up before the answer took effect',
        operation: 'answer',
        channelGone: true,
      });
      // The Up that followed is not reported as a (late) answer either.
      expect(await endOf(seen, 'c1')).toEqual({ channelId: 'c1', cause: 127, causeText: 'Interworking, unspecified' });
      expect(seen.answered).toEqual([]);
    });

    it('a BYE right after the answer is an answered call ending', async () => {
      const { asterisk, telephony, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      await telephony.answer('c1');
      asterisk.callerHangsUp('c1');
      expect(await endOf(seen, 'c1')).toEqual({ channelId: 'c1', cause: 16, causeText: 'Normal Clearing' });
    });

    it('a reply waits for the Up report that comes after it', async () => {
      const { asterisk, telephony, seen } = await connect({ answerGraceMs: 5_000 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      await waitFor('the call', () => seen.started.length === 1);
      asterisk.eventLagMs = 30;
      const started = Date.now();
      await expect(telephony.answer('c1')).resolves.toBeUndefined();
      expect(Date.now() - started).toBeGreaterThanOrEqual(25);
      expect(seen.answered).toEqual(['c1']);
    });

    it('a reply with no Up report within the grace is trusted: a caller Asterisk answered is billed', async () => {
      const { asterisk, telephony, seen } = await connect({ answerGraceMs: 30 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      await waitFor('the call', () => seen.started.length === 1);
      asterisk.allowedEvents = new Set(['StasisStart', 'StasisEnd', 'ChannelHangupRequest']); // the report is lost
      await expect(telephony.answer('c1')).resolves.toBeUndefined();
      expect(seen.warnings).toContain('answer replied, but no Up report came; followed as answered');
    });

    it('a websocket lost while waiting for the report settles the answer on its reply at once', async () => {
      const { asterisk, telephony, seen } = await connect({ answerGraceMs: 60_000 });
      asterisk.newCall('c1', '0899123456', '0612345678');
      await waitFor('the call', () => seen.started.length === 1);
      asterisk.eventLagMs = 1_000;
      const started = Date.now();
      const answered = telephony.answer('c1');
      await waitFor('the answer request', () => asterisk.requests.includes('answer c1'));
      await ticks();
      asterisk.client.drop(new Error('read ECONNRESET'));
      await expect(answered).resolves.toBeUndefined();
      expect(Date.now() - started).toBeLessThan(1_000);
    });
  });

  describe('connection state', () => {
    it('a websocket drop fails the plays whose end can no longer be seen; its return reports connected again', async () => {
      const { asterisk, telephony, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      const play = telephony.play('c1', ['sound:sanscode/please-hold'], 'fr', new AbortController().signal);
      await waitFor('the play request', () => asterisk.playbacks.size === 1);
      asterisk.client.drop(new Error('read ECONNRESET'));
      expect(await play).toBe('failed');
      expect(seen.warnings).toContain('ARI websocket lost, reconnecting');
      asterisk.client.reopen();
      await waitFor('connected again', () => seen.connected.length === 2);
      expect(asterisk.clients).toHaveLength(1); // ari-client reconnected the same client
    });

    it('after ari-client gives up, starts over with a new client and is connected again', async () => {
      const { asterisk, telephony, seen } = await connect();
      const old = asterisk.client;
      const baseline = telephony.heldState.listeners;
      asterisk.newCall('c1', '0899123456', '0612345678');
      const play = telephony.play('c1', ['sound:sanscode/please-hold'], 'fr', new AbortController().signal);
      await waitFor('the play request', () => asterisk.playbacks.size === 1);
      old.drop();
      asterisk.refuseConnections = 1; // the first attempt after giving up fails too
      old.giveUp();
      expect(await play).toBe('failed');
      expect(old.stopped).toBe(true);
      expect(listenersOf(old)).toBe(0);
      await waitFor('connected on a new client', () => seen.connected.length === 2, 10_000);
      expect(asterisk.clients).toHaveLength(2);
      expect(telephony.heldState.listeners).toBe(baseline);
      // Calls go through the new client; the old one, if it spoke again, is not listened to.
      old.emit('StasisStart', { ...stasisStartFromAsterisk, channel: { id: 'ghost' } });
      asterisk.newCall('c2', '0899123456', '0612345678');
      expect(seen.started.map((c) => c.channelId)).toEqual(['c1', 'c2']);
      await telephony.answer('c2');
      expect(asterisk.channels.get('c2')?.state).toBe('Up');
    });

    it('heartbeat: answered pings keep the websocket; two periods without a pong drop it to reconnect', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
      const { asterisk, seen } = await connect({ pingMs: 1_000 });
      const socket = asterisk.client._ws!;
      for (let i = 0; i < 5; i++) {
        vi.advanceTimersByTime(1_000);
        await ticks(); // the pong
      }
      expect(socket.pings).toBe(5);
      expect(socket.readyState).toBe(1);
      asterisk.answerPings = false;
      vi.advanceTimersByTime(2_000);
      expect(socket.readyState).toBe(1); // two periods: still within the margin
      vi.advanceTimersByTime(1_000);
      expect(seen.warnings).toContain('ARI heartbeat lost; dropping the websocket to reconnect');
      await waitFor('connected again', () => seen.connected.length === 2);
      expect(socket.readyState).toBe(1);
    });

    it('heartbeat never pings a closed websocket', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
      const { asterisk, seen } = await connect({ pingMs: 1_000 });
      asterisk.client.drop();
      vi.advanceTimersByTime(10_000);
      expect(asterisk.client._ws!.pings).toBe(0);
      expect(seen.warnings).not.toContain('ARI ping failed');
    });

    it('skips an event it cannot read, and goes on', async () => {
      const { asterisk, seen } = await connect();
      asterisk.send('StasisStart', { args: ['0899123456'] });
      asterisk.send('PlaybackFinished', { playback: { state: 'done' } });
      expect(seen.warnings.filter((w) => w === 'unreadable ARI event skipped')).toHaveLength(2);
      asterisk.newCall('c1', '0899123456', '0612345678');
      expect(seen.started.map((c) => c.channelId)).toEqual(['c1']);
    });

    it('stop fails the plays in progress and hears nothing more', async () => {
      const { asterisk, telephony, seen } = await connect();
      asterisk.newCall('c1', '0899123456', '0612345678');
      const play = telephony.play('c1', ['sound:sanscode/please-hold'], 'fr', new AbortController().signal);
      await waitFor('the play request', () => asterisk.playbacks.size === 1);
      await telephony.stop();
      expect(await play).toBe('failed');
      expect(asterisk.client.stopped).toBe(true);
      asterisk.newCall('c2', '0899123456', '0612345678');
      expect(seen.started.map((c) => c.channelId)).toEqual(['c1']);
    });
  });

  it('holds no per-call state once calls are over, whatever way they ended', async () => {
    const { asterisk, telephony, seen } = await connect();
    const baseline = telephony.heldState;
    expect(baseline).toMatchObject({ channels: 0, playbacks: 0 });
    expect(baseline.listeners).toBeGreaterThan(0);
    const never = new AbortController().signal;

    // Played through, then hung up by us.
    asterisk.newCall('paid', '0899123456', '0611111111');
    await telephony.answer('paid');
    const play = telephony.play('paid', ['sound:sanscode/call-counted'], 'fr', never);
    await waitFor('the play request', () => asterisk.playbacksOf('paid').length === 1);
    expect(telephony.heldState).toMatchObject({ channels: 1, playbacks: 1 });
    asterisk.finishPlayback(asterisk.playbacksOf('paid')[0]!);
    expect(await play).toBe('finished');
    await telephony.hangup('paid', 'normal');
    // Caller gone during a play.
    asterisk.newCall('left', '0899123456', '0622222222');
    const cut = telephony.play('left', ['sound:sanscode/please-hold'], 'fr', never);
    await waitFor('the play request', () => asterisk.playbacksOf('left').length === 1);
    asterisk.callerHangsUp('left');
    expect(await cut).toBe('cancelled');
    // Refused early media, then busy.
    asterisk.newCall('anon', '0899123456');
    await telephony.progress('anon');
    await telephony.hangup('anon', 'busy');

    await Promise.all(['paid', 'left', 'anon'].map((id) => endOf(seen, id)));
    expect(telephony.heldState).toEqual({ channels: 0, playbacks: 0, listeners: baseline.listeners });
  });
});
