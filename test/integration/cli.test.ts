// The operator CLI run as an operator runs it (a child process on the service's database):
// a new operator sets up a merchant, an offer and a number with it alone; --json, --help, and
// exit code 2 with a one-line message on bad input.
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admitCall, createPurchase, endCall, findMerchantByApiKeyHash, getOffer, hashApiKey, markAnswered } from '../../db/ledger/index.js';
import { runSanscode, type CliResult } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

const sanscode = (...args: string[]) => runSanscode(t.url, args);

/** Runs several at a time (2 cores: a few Node processes at once is plenty). */
async function runAll<T>(items: T[], run: (item: T) => Promise<CliResult>): Promise<CliResult[]> {
  const results: CliResult[] = [];
  for (let i = 0; i < items.length; i += 4) results.push(...(await Promise.all(items.slice(i, i + 4).map(run))));
  return results;
}

// Each run is a Node process compiling TypeScript: seconds each on a busy 2-core machine.
describe('sanscode operator CLI', { timeout: 180_000 }, () => {
  it('sets up a merchant, an offer and a number with the CLI alone, ready to take a paying call', async () => {
    const merchant = await sanscode('merchant', 'create', '--name', 'Le Journal', '--json');
    expect(merchant).toMatchObject({ code: 0, stderr: '' });
    const { id: merchantId, apiKey } = merchant.json();
    expect((await findMerchantByApiKeyHash(t.db, hashApiKey(apiKey)))?.id).toBe(merchantId);

    const offer = await sanscode(
      'offer', 'create', '--merchant', merchantId, '--name', 'Article', '--number', '08 99 12 34 56',
      '--calls', '2', '--min-seconds', '20', '--ttl', '900', '--language', 'en', '--price-line', '2,99 € / call', '--json',
    );
    expect(offer).toMatchObject({ code: 0, stderr: '' });
    const offerId = offer.json().id;
    expect(await getOffer(t.db, offerId)).toMatchObject({
      merchantId, name: 'Article', mode: 'caller_id', callsRequired: 2, minCallSeconds: 20, purchaseTtlSeconds: 900, language: 'en', priceLine: '2,99 € / call', numbers: ['+33899123456'],
    });

    const announcement = await sanscode('number', 'set-announcement', '0899123456', 'sanscode/price-2-99', '--json');
    expect(announcement).toMatchObject({ code: 0, stderr: '' });
    expect(announcement.json()).toEqual({ number: '+33899123456', priceAnnouncement: 'sanscode/price-2-99', holdSound: null });
    const hold = await sanscode('number', 'set-hold-sound', '0899123456', 'sanscode/hold-music', '--json');
    expect(hold).toMatchObject({ code: 0, stderr: '' });
    expect(hold.json()).toEqual({ number: '+33899123456', priceAnnouncement: 'sanscode/price-2-99', holdSound: 'sanscode/hold-music' });

    // What the merchant's backend and the IVR then do works on this setup.
    const purchase = await createPurchase(t.db, merchantId, { offerId, callerNumber: '+33612345678' });
    const { admission } = await admitCall(
      t.db,
      { channelId: 'cli-setup-1', asteriskId: null, dialedRaw: '0899123456', dialed: '+33899123456', callerRaw: '0612345678', caller: '+33612345678' },
      { maxCallSeconds: 3600, defaultLanguage: 'fr' },
    );
    expect(admission).toMatchObject({ action: 'answer', purchaseId: purchase.id, language: 'en', priceAnnouncement: 'sanscode/price-2-99', callsRemaining: 2 });

    const [list, show] = await Promise.all([sanscode('offer', 'list'), sanscode('offer', 'show', offerId, '--json')]);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^id\s+merchant\s+name\s+mode\s+calls\s+min s\s+lifetime s\s+numbers$/);
    expect(list.stdout).toMatch(new RegExp(`${offerId}\\s+Le Journal\\s+Article\\s+caller_id\\s+2\\s+20\\s+900\\s+\\+33899123456`));
    expect(show.json()).toMatchObject({ id: offerId, numbers: ['+33899123456'] });
  });

  it('lists merchants as a table or as JSON, and shows a dynamic pool', async () => {
    const created = (await sanscode('merchant', 'create', '--name', 'Petites Annonces', '--json')).json();
    const pool = await sanscode(
      'offer', 'create', '--merchant', created.id, '--name', 'Contact', '--mode', 'dynamic_number',
      '--number', '0899200001', '--number', '0899200002', '--calls', '1', '--min-seconds', '10', '--hold', '300', '--json',
    );
    expect(pool.json()).toMatchObject({ mode: 'dynamic_number', holdSeconds: 300, maxHoldSeconds: 300, quarantineSeconds: 300 });
    const [table, json, poolShow] = await Promise.all([
      sanscode('merchant', 'list'),
      sanscode('merchant', 'list', '--json'),
      sanscode('pool', 'show', pool.json().id, '--json'),
    ]);
    expect(table.stdout).toMatch(/^id\s+name\s+offers\s+webhook\s+created\n-+/);
    expect(table.stdout).toMatch(new RegExp(`${created.id}\\s+Petites Annonces\\s+1\\s+-`));
    expect(json.json().merchants).toContainEqual(expect.objectContaining({ id: created.id, name: 'Petites Annonces', offers: 1, webhookUrl: null }));
    expect(poolShow.json()).toMatchObject({ free: 2, lent: 0, resting: 0, numbers: [{ number: '+33899200001', state: 'free' }, { number: '+33899200002', state: 'free' }] });
  });

  it('lists lost calls, credits one as the OS user, and shows it on the purchase', async () => {
    const merchant = (await sanscode('merchant', 'create', '--name', 'Shop', '--json')).json();
    const offer = (await sanscode('offer', 'create', '--merchant', merchant.id, '--name', 'Unlock', '--number', '0899300001', '--calls', '1', '--min-seconds', '30', '--ttl', '600', '--json')).json();
    const purchase = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33622222222' });
    const facts = { channelId: 'cli-lost-1', asteriskId: null, dialedRaw: '0899300001', dialed: '+33899300001', callerRaw: '0622222222', caller: '+33622222222' };
    await admitCall(t.db, facts, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
    await markAnswered(t.db, facts.channelId);
    await endCall(t.db, facts.channelId, { lost: true });

    const lost = await sanscode('calls', '--outcome', 'lost', '--dialed', '0899300001', '--json');
    expect(lost.json().calls).toMatchObject([{ channelId: 'cli-lost-1', outcome: 'lost', purchaseId: purchase.id }]);

    const credit = await sanscode('credit', 'cli-lost-1', '--reason', 'billed: statement 2026-11 line 4', '--json');
    expect(credit).toMatchObject({ code: 0, stderr: '' });
    expect(credit.json()).toMatchObject({
      credit: { channelId: 'cli-lost-1', creditedBy: userInfo().username, reason: 'billed: statement 2026-11 line 4' },
      completed: true,
      purchase: { id: purchase.id, status: 'completed' },
    });

    const again = await sanscode('credit', 'cli-lost-1', '--reason', 'twice');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^sanscode credit: Call cli-lost-1 was already credited on .* by .*\.\n$/);

    const [shown, text] = await Promise.all([sanscode('purchase', 'show', purchase.id, '--json'), sanscode('purchase', 'show', purchase.id)]);
    expect(shown.json()).toMatchObject({
      purchase: { status: 'completed', callsCounted: 1 },
      merchantName: 'Shop',
      calls: [{ channelId: 'cli-lost-1', outcome: 'counted' }],
      credits: [{ channelId: 'cli-lost-1', creditedBy: userInfo().username }],
    });
    expect(shown.json().events.map((e: { type: string }) => e.type)).toEqual(['created', 'call_started', 'call_ended', 'call_counted', 'completed']);
    expect(text.stdout).toMatch(/Credits:\nat\s+channel\s+by\s+reason/);

    const deliveries = await sanscode('webhook-deliveries', '--merchant', merchant.id, '--json');
    expect(deliveries.json()).toEqual({ merchantId: merchant.id, webhookUrl: null, deliveries: [] });
  });

  it('prints --help for every command without touching the database', async () => {
    const unreachable = 'postgres://nobody@127.0.0.1:1/none';
    const commands = [
      ['merchant'], ['merchant', 'create'], ['offer'], ['offer', 'create'], ['number', 'set-announcement'], ['number', 'set-hold-sound'], ['pool', 'show'], ['calls'],
      ['credit'], ['purchase', 'show'], ['webhook-deliveries'], ['report'], ['reconcile'],
    ];
    const results = await runAll(commands, (c) => runSanscode(unreachable, [...c, '--help']));
    results.forEach((r, i) => {
      expect(r, commands[i]!.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout, commands[i]!.join(' ')).toMatch(new RegExp(`^usage: sanscode ${commands[i]![0]}`));
    });
    const overview = await runSanscode(unreachable, ['help']);
    expect(overview.code).toBe(0);
    for (const c of ['merchant', 'offer', 'number', 'pool', 'calls', 'credit', 'purchase', 'webhook-deliveries', 'report', 'reconcile']) {
      expect(overview.stdout).toMatch(new RegExp(`^  ${c}\\s+\\S`, 'm'));
    }
  });

  it('exits 2 with a one-line message on bad input, changing nothing', async () => {
    const merchantId = (await sanscode('merchant', 'list', '--json')).json().merchants[0].id;
    const offer = ['offer', 'create', '--merchant', merchantId, '--name', 'X', '--number', '0899400001', '--min-seconds', '0', '--ttl', '60'];
    const cases: [string[], RegExp][] = [
      [['merchant', 'create'], /--name: required/],
      [['merchant', 'create', '--nme', 'x'], /Unknown option '--nme'/],
      [['merchant', 'delete'], /unknown subcommand "delete"/],
      [[...offer, '--calls', '21'], /--calls: must be between 1 and 20/],
      [[...offer, '--calls', '1', '--hold', '60'], /--hold: not used with --mode caller_id/],
      [[...offer.map((a) => (a === '0899400001' ? '0899' : a)), '--calls', '1'], /--number: not a valid phone number: 0899/],
      [['offer', 'create', '--merchant', '00000000-0000-4000-8000-000000000000', '--name', 'X', '--number', '0899400001', '--calls', '1', '--min-seconds', '0', '--ttl', '60'], /No merchant with id/],
      [['offer', 'show', 'not-a-uuid'], /"not-a-uuid" is not an offer id/],
      [['number', 'set-announcement', '0899400001'], /give either SOUND or --none/],
      [['number', 'set-hold-sound', '0899400001', 'hold.wav'], /"hold.wav" is not a sound name/],
      [['credit', 'some-channel'], /--reason: required/],
      [['reconcile', '/nonexistent/statement.csv'], /cannot read \/nonexistent\/statement.csv: ENOENT/],
    ];
    const results = await runAll(cases, ([args]) => sanscode(...args));
    results.forEach((r, i) => {
      const name = cases[i]![0].join(' ');
      expect(r.code, name).toBe(2);
      expect(r.stdout, name).toBe('');
      expect(r.stderr, name).toMatch(cases[i]![1]);
      expect(r.stderr, name).toMatch(/^sanscode [a-z-]+: [^\n]+\n$/);
    });
    expect((await sanscode('offer', 'list', '--json')).json().offers.map((o: { name: string }) => o.name)).not.toContain('X');
  });
});
