// The business rules of sanscode, with no I/O: no database, no Asterisk, no clock, no logger.
// The ledger (db/ledger/) reads state and calls these rules; never the reverse.
export * from './vocabulary.js';
export * from './purchase.js';
export * from './call-decision.js';
export * from './per-second.js';
export * from './prompts.js';
export * from './access-code.js';
export * from './identity.js';
