import type { Migration } from '../migration.js';

/**
 * A stand-in for version 6, which another branch of this round adds (versions must be contiguous
 * and one file each). Whoever merges deletes this file and lists the real 0006 migration instead.
 */
export const pending6: Migration = { version: 6, name: 'pending-other-branch-6', up: () => undefined };
