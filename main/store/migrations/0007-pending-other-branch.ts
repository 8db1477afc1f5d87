import type { Migration } from '../migration.js';

/**
 * A stand-in for version 7, which another branch of this round adds (versions must be contiguous
 * and one file each). Whoever merges deletes this file and lists the real 0007 migration instead.
 */
export const pending7: Migration = { version: 7, name: 'pending-other-branch-7', up: () => undefined };
