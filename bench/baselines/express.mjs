// Baselines for `npm run bench -- api`: Express doing the least possible for each path, plain
// JavaScript run by node like the compiled API, no logging, postgres.js with its default pool.
//   GET  /constant/:id  the JSON of the bench purchase, held in memory (no database);
//   GET  /read/:id      one SELECT of the purchase by primary key;
//   POST /insert        parse the JSON body, one INSERT of a purchase row, 201 with the row.
// Env: PORT, DATABASE_URL, PURCHASE_ID (the purchase to serve), OFFER_ID (the offer inserted rows use).
import express from 'express';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL, { onnotice: () => {} });
const [offer] = await sql`select * from offers where id = ${process.env.OFFER_ID}`;
const [number] = await sql`select number from offer_numbers where offer_id = ${offer.id} order by number limit 1`;
const [constant] = await sql`select * from purchases where id = ${process.env.PURCHASE_ID}`;

const app = express();
app.disable('x-powered-by');
app.get('/healthz', (_req, res) => {
  res.json({ ok: true });
});
app.get('/constant/:id', (_req, res) => {
  res.json(constant);
});
app.get('/read/:id', async (req, res) => {
  const [row] = await sql`select * from purchases where id = ${req.params.id}`;
  if (!row) return res.status(404).end();
  res.json(row);
});
app.post('/insert', express.json(), async (req, res) => {
  const [row] = await sql`
    insert into purchases (merchant_id, offer_id, mode, reference, caller_number, number_to_call, calls_required, min_call_seconds, language, expires_at)
    values (${offer.merchant_id}, ${offer.id}, ${offer.mode}, ${req.body.reference ?? null}, ${req.body.callerNumber}, ${number.number},
            ${offer.calls_required}, ${offer.min_call_seconds}, ${offer.language}, now() + make_interval(secs => ${offer.purchase_ttl_seconds}))
    returning *`;
  res.status(201).json(row);
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void sql.end({ timeout: 1 });
});
