// Browser end to end: the demo merchant page (/demo) in a real headless Chromium, the widget
// (/widget.js) fed by the live event stream, and real SIP calls (SIPp → Asterisk 22 → IVR)
// paying the purchase. The page is never reloaded: every change comes through EventSource.
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelPurchase } from '../../db/ledger/index.js';
import { demoState } from '../../demo/routes.js';
import { placeCall } from '../../scripts/lib/sipp.js';
import { startE2eStack, type E2eStack } from '../support/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const WAIT = 45_000; // one SIP call (answer, minCallSeconds, prompts, hang-up) fits well inside

let s: E2eStack;
let browser: Browser | undefined;

beforeAll(async () => {
  s = await startE2eStack('widget', { demo: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
});
afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

/** A fresh page on /demo that records the widget's DOM events and any script error. */
async function openDemo(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser!.newPage({ viewport: { width: 900, height: 1000 }, locale: 'fr-FR' });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  await page.goto(`${s.http.base}/demo`);
  await page.evaluate(() => {
    const w = window as unknown as { seen: unknown[]; marker: number };
    w.seen = [];
    w.marker = Math.random();
    for (const name of ['progress', 'paid', 'expired', 'cancelled']) {
      document.getElementById('sanscode-pay')!.addEventListener(`sanscode:${name}`, (e) => w.seen.push({ name, ...(e as CustomEvent).detail }));
    }
  });
  return { page, errors };
}

const status = (page: Page) => page.locator('#sanscode-pay [role=status]');
async function waitStatus(page: Page, text: RegExp, timeout = WAIT): Promise<void> {
  await status(page).filter({ hasText: text }).waitFor({ timeout });
}
const seen = (page: Page) => page.evaluate(() => (window as unknown as { seen: { name: string; callInProgress?: boolean; callsRemaining?: number }[] }).seen);

describe('widget on the demo merchant page', () => {
  it('caller ID: shows the number and the calls left, follows two real calls live, then paid', { timeout: 240_000 }, async () => {
    const { page, errors } = await openDemo();
    const marker = await page.evaluate(() => (window as unknown as { marker: number }).marker);
    await page.getByLabel('Votre numéro').fill('06 12 34 56 78');
    await page.getByRole('button', { name: 'Acheter en appelant' }).click();

    const number = page.locator('#sanscode-pay a[href^="tel:"]');
    await number.waitFor({ timeout: 10_000 });
    expect(await number.textContent()).toBe('08 99 12 34 56');
    expect(await number.getAttribute('href')).toBe('tel:+33899123456');
    await waitStatus(page, /^Il vous reste 2 appels$/, 10_000);
    expect(await page.locator('#sanscode-pay').textContent()).toContain("2 appels à 2,99 € TTC l'appel");
    expect(await status(page).getAttribute('aria-live')).toBe('polite');
    expect(await page.locator('#sipp').textContent()).toBe('npx tsx scripts/test-call.ts 0612345678 --to 0899123456');

    // A call hung up 3 s into the identity prompt ("not my purchase"): never answered, the
    // purchase disputed but still payable; the page says so until a call counts.
    const refused = await placeCall({ scenario: 'uac-chaos-cancel', dialed: '0899123456', caller: '33612345678', holdMs: 3000 });
    expect(refused, refused.errors).toMatchObject({ exitCode: 0, saw: 'refused' });
    expect(await s.closedCalls('+33899123456', 1)).toMatchObject([{ outcome: 'disputed', answered_at: null }]);
    await waitStatus(page, /^Appel raccroché pendant l’annonce\. Si c’était vous, rappelez et restez en ligne\.$/, 10_000);
    expect((await seen(page)).at(-1)).toMatchObject({ name: 'progress', status: 'pending', callsRemaining: 2 });

    const first = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899123456', caller: '33612345678' });
    expect(first, first.errors).toMatchObject({ exitCode: 0 });
    // SIPp returns on the IVR's BYE, a moment before the IVR records the end of the call: wait
    // for the record so the assertions below see a settled ledger.
    await s.closedCalls('+33899123456', 2);
    await waitStatus(page, /^Il vous reste 1 appel$/);
    await page.screenshot({ path: 'test-artifacts/widget-pending.png', fullPage: true });
    const afterFirst = await seen(page);
    expect(afterFirst.some((e) => e.name === 'progress' && e.callInProgress)).toBe(true); // "Appel en cours…" was shown

    const second = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899123456', caller: '33612345678' });
    expect(second, second.errors).toMatchObject({ exitCode: 0 });
    await waitStatus(page, /^Payé ✓$/);
    await page.locator('#content').waitFor({ state: 'visible', timeout: 10_000 }); // the merchant's server confirmed
    expect(await number.isVisible()).toBe(false);
    const events = await seen(page);
    expect(events.filter((e) => e.name === 'paid')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ name: 'paid', status: 'completed', callsRemaining: 0 });
    // Same document all along: no reload happened.
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(marker);
    await page.screenshot({ path: 'test-artifacts/widget-paid.png', fullPage: true });
    expect(errors).toEqual([]);

    // The page and the widget never got the merchant's key.
    expect(await page.content()).not.toMatch(/sk_[A-Za-z0-9_-]{20,}/);
    await page.close();
  });

  it('dynamic number: lends a pool number, a withheld caller pays it with two calls', { timeout: 240_000 }, async () => {
    const { page, errors } = await openDemo();
    await page.getByRole('button', { name: 'Obtenir mon numéro à appeler' }).click();
    const number = page.locator('#sanscode-pay a[href^="tel:"]');
    await number.waitFor({ timeout: 10_000 });
    const e164 = (await number.getAttribute('href'))!.slice('tel:'.length);
    expect(e164).toMatch(/^\+3389920000[1-5]$/);
    const dialed = `0${e164.slice(3)}`;
    expect((await number.textContent())!.replace(/ /g, '')).toBe(dialed);
    await waitStatus(page, /^Il vous reste 2 appels$/, 10_000);

    for (const [n, after] of [
      [1, /^Il vous reste 1 appel$/],
      [2, /^Payé ✓$/],
    ] as const) {
      const call = await placeCall({ scenario: 'uac-answered-wait-bye', dialed, caller: 'anonymous' });
      expect(call, `call ${n}: ${call.errors}`).toMatchObject({ exitCode: 0 });
      await s.closedCalls(e164, n);
      await waitStatus(page, after);
    }
    await page.locator('#content').waitFor({ state: 'visible', timeout: 10_000 });
    await page.screenshot({ path: 'test-artifacts/widget-dynamic-paid.png', fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('speaks English with data-lang, resumes a pending purchase, and ends on cancellation', { timeout: 60_000 }, async () => {
    const { page, errors } = await openDemo();
    const buy = () =>
      page.evaluate(async () => {
        const res = await fetch('/demo/api/purchases', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'caller_id', phone: '0612345699' }) });
        return { status: res.status, body: await res.json() };
      });
    const created = await buy();
    expect(created.status).toBe(201);
    const again = await buy(); // same buyer, same article: the pending purchase is resumed
    expect(again).toMatchObject({ status: 200, body: { resumed: true, purchaseId: created.body.purchaseId } });
    await page.evaluate((token) => {
      const s = document.createElement('script');
      Object.assign(s.dataset, { token, target: '#sanscode-pay', lang: 'en' });
      s.src = '/widget.js';
      document.body.appendChild(s);
    }, again.body.clientToken as string);
    await waitStatus(page, /^2 calls remaining$/, 10_000);
    expect(await page.locator('#sanscode-pay .sanscode').getAttribute('lang')).toBe('en');

    // The merchant cancels it (the demo backend has no API key: through the ledger, as it buys).
    const { merchantId } = await demoState(s.t.db);
    expect(await cancelPurchase(s.t.db, merchantId, created.body.purchaseId)).toMatchObject({ status: 'cancelled' });
    await waitStatus(page, /^Purchase cancelled\.$/, 10_000);
    expect((await seen(page)).at(-1)).toMatchObject({ name: 'cancelled', status: 'cancelled' });
    expect(errors).toEqual([]);
    await page.close();
  });
});
