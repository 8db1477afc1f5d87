import type { Migration } from '../migration.js';
import { lineage } from './0001-lineage.js';
import { taskSearch } from './0002-task-search.js';
import { trainingRuns } from './0003-training-runs.js';
import { pipelineRuns } from './0004-pipeline-runs.js';
import { judgeMode } from './0005-judge-mode.js';
import { endpoints } from './0006-endpoints.js';
import { modelHfId } from './0007-model-hf-id.js';

/** In version order; a new schema step is a new file added at the end, never an edit of an old one. */
export const MIGRATIONS: readonly Migration[] = [lineage, taskSearch, trainingRuns, pipelineRuns, judgeMode, endpoints, modelHfId];
