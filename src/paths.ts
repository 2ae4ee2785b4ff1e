/** Locations inside the checkout that rollbook's scripts and tests share. */
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..');

/** Project-local state: tools, caches, fleets, Temporal's SQLite file. Ignored by git. */
export const STATE_DIR = process.env.ROLLBOOK_STATE_DIR ?? path.join(REPO_ROOT, '.rollbook');
