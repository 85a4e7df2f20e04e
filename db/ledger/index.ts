// The ledger: the door to the database. The rest of sanscode (api/, ivr/, webhooks/, demo/,
// bin/) calls these functions and never imports the drizzle schema; only the ledger changes
// merchants, offers, purchases, lendings and calls. Every change of money state (a call
// admitted, counted, a purchase completed, cancelled, expired, a number lent or released)
// happens in one transaction, with the row locks that make it safe when several IVR workers
// and API processes share the database. Times come from PostgreSQL's clock so that all
// processes agree on "now".
export * from './shared.js';
export * from './merchants.js';
export * from './offers.js';
export * from './purchases.js';
export * from './lending.js';
export * from './calls.js';
export * from './seconds.js';
export * from './events.js';
export * from './webhooks.js';
export * from './app-state.js';
export * from './credits.js';
export * from './operator.js';
export * from './reports.js';
export * from './metrics.js';
export * from './codes.js';
export * from './identity.js';
