// The import directions of sanscode, checked by `npm test` (scripts/test.sh runs
// `npm run check:imports`). The architecture in one picture:
//
//   domain/  ←  db/ledger/  ←  { api/, ivr/, webhooks/, demo/ }  ←  bin/
//   (rules,      (the only door        (thin shells: HTTP,
//    no I/O)      to the database)      ARI, outgoing webhooks)
//
// core/ (config, logger, phone numbers) may be used by everyone but domain/.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'domain/ holds the business rules with no I/O: it imports nothing of the project but itself, and no Node I/O module.',
      severity: 'error',
      from: { path: '^domain/' },
      to: { pathNot: '^domain/', dependencyTypesNot: ['npm', 'npm-dev', 'type-only'] },
    },
    {
      name: 'domain-has-no-io-packages',
      comment: 'domain/ may not reach the database, the logger, Express or ARI.',
      severity: 'error',
      from: { path: '^domain/' },
      to: { path: ['node_modules/(drizzle-orm|postgres|@electric-sql|pino|pino-http|express|ari-client)/', '^(fs|net|http|https|child_process|node:)'] },
    },
    {
      name: 'only-the-ledger-touches-tables',
      comment: 'The drizzle schema (the tables) is imported only by the ledger and the database plumbing (db/).',
      severity: 'error',
      from: { path: '^(api|ivr|webhooks|demo|bin|core|domain)/' },
      to: { path: '^db/schema\\.ts$' },
    },
    {
      name: 'no-query-builder-outside-db',
      comment: 'SQL is written in db/ only: shells call ledger functions.',
      severity: 'error',
      from: { path: '^(api|ivr|webhooks|demo|bin|core|domain)/' },
      to: { path: 'node_modules/drizzle-orm/' },
    },
    {
      name: 'ledger-does-not-call-shells',
      comment: 'db/ never imports the shells that use it.',
      severity: 'error',
      from: { path: '^db/' },
      to: { path: '^(api|ivr|webhooks|demo|bin)/' },
    },
    {
      name: 'only-bin-imports-api',
      comment: 'api/ is an entry point: only bin/ (and tests, benches) start it.',
      severity: 'error',
      from: { path: '^(ivr|webhooks|db|core|domain)/' },
      to: { path: '^api/' },
    },
    {
      name: 'shells-are-independent',
      comment: 'The IVR and the HTTP API are separate shells over the same ledger.',
      severity: 'error',
      from: { path: '^(ivr|webhooks)/' },
      to: { path: '^(api|ivr|demo)/', pathNot: '^ivr/' },
    },
    {
      name: 'no-test-code-in-product',
      comment: 'Product code and the scripts a user runs never import tests (test runners such as scripts/chaos.ts and bench/ may).',
      severity: 'error',
      from: { path: '^(api|ivr|db|core|domain|webhooks|demo|bin)/|^scripts/(test-call\\.ts|lib/)' },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
