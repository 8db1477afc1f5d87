import type { Migration } from '../migration.js';
import { lineage } from './0001-lineage.js';
import { taskSearch } from './0002-task-search.js';
import { trainingRuns } from './0003-training-runs.js';
import { pipelineRuns } from './0004-pipeline-runs.js';
import { judgeMode } from './0005-judge-mode.js';
import { modelHfId } from './0008-model-hf-id.js';

/**
 * Stand-ins for versions 6 and 7, which other branches of this round add: versions must be
 * contiguous. Whoever merges replaces them with the real 0006/0007 migrations.
 */
const pending = (version: number): Migration => ({ version, name: `pending-${version}`, up: () => undefined });

/** In version order; a new schema step is a new file added at the end, never an edit of an old one. */
export const MIGRATIONS: readonly Migration[] = [lineage, taskSearch, trainingRuns, pipelineRuns, judgeMode, pending(6), pending(7), modelHfId];
