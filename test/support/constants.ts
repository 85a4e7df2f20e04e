// Values every test file shares.

/** The operator's ADMIN_TOKEN in tests (at least 16 characters, as the configuration requires). */
export const ADMIN = 'admin-token-for-tests-0123456789';
