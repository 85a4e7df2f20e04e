// Smoke test of the embedded-database mode (no DATABASE_URL): migrations, a purchase, a
// counted call, and the data still there after reopening the folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.js';
import { createPurchase, eventsSince, getPurchase } from '../../db/ledger/index.js';
import { defaultPurchaseLimits } from '../../domain/index.js';
import { simulateCall } from '../support/calls.js';
import { provision } from '../support/fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-pglite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded PGlite mode', () => {
  it('runs the whole ledger and keeps data on disk', async () => {
    const first = await openDatabase({ dataDir: dir });
    expect(first.kind).toBe('pglite');
    const { merchant, offer } = await provision(first.db);
    // With the creation limits and a buyer address, as the API creates them (advisory locks, keyed hash).
    const p = await createPurchase(first.db, merchant.id, { offerId: offer.id, callerNumber: '+33612345678', clientIp: '192.0.2.1' }, { limits: defaultPurchaseLimits });
    const { admission, count } = await simulateCall(first.db, { dialed: '+33899123456', caller: '+33612345678' });
    expect(admission.action).toBe('answer');
    expect(count).toMatchObject({ counted: true, completed: true });
    await first.close();

    const again = await openDatabase({ dataDir: dir });
    expect(await getPurchase(again.db, merchant.id, p.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
    // Event-log reads at once share one raw statement (events.ts): PGlite answers it as PostgreSQL does.
    const lone = await eventsSince(again.db, p.id, 0);
    expect(lone.length).toBeGreaterThan(1);
    const atOnce = await Promise.all(Array.from({ length: 12 }, (_, i) => eventsSince(again.db, p.id, i % 2 ? lone[0]!.id : 0)));
    for (const [i, events] of atOnce.entries()) expect(events).toEqual(i % 2 ? lone.slice(1) : lone);
    await again.close();
  });
});
