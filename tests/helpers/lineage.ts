import type { ExecutionRecord, NewSample } from '../../main/store/runs.js';
import type { Store } from '../../main/store/store.js';

export const PASSED: ExecutionRecord = {
  status: 'passed', errorKind: null, testResults: [{ index: 0, outcome: 'passed' }, { index: 1, outcome: 'passed' }],
  stdout: '', stderr: '', outputTruncated: false, durationMs: 3.5, backend: 'test',
};

export const FAILED: ExecutionRecord = {
  status: 'failed', errorKind: 'assertion_failure',
  testResults: [{ index: 0, outcome: 'passed' }, { index: 1, outcome: 'assertion_failed', expected: '8', actual: '7' }],
  exceptionType: 'AssertionError', stdout: '', stderr: '', outputTruncated: false, durationMs: 4.1, backend: 'test',
};

export const SANDBOX_ERROR: ExecutionRecord = {
  status: 'sandbox_error', errorKind: 'sandbox_error', testResults: [], stdout: '', stderr: 'worker died',
  outputTruncated: false, durationMs: 1, backend: 'test',
};

/** A model and a sampling run over a dataset already in the store. */
export function seedRun(store: Store, dataset: string, split: string, n = 3): { modelId: number; runId: number; datasetId: number } {
  const datasetId = store.catalog.dataset(dataset)?.id;
  if (datasetId === undefined) throw new Error(`no dataset ${dataset}`);
  const { id: modelId } = store.models.add({
    name: 'tiny-test', path: '/models/tiny.gguf', sha256: 'f'.repeat(64), architecture: 'llama', quantization: 'F16',
    sizeBytes: 1024, hasChatTemplate: false,
  });
  const runId = store.runs.createSamplingRun({
    purpose: 'ilf', modelId, datasetId, split, promptFormat: 'completion', n, temperature: 0.8, topP: 0.95,
    maxTokens: 256, stop: ['\nclass', '\ndef'], seed: 1234,
  });
  return { modelId, runId, datasetId };
}

export function taskRowId(store: Store, dataset: string, taskKey: string): number {
  const row = store.db
    .prepare<[string, string], { id: number }>('SELECT t.id FROM tasks t JOIN datasets d ON d.id = t.dataset_id WHERE d.name = ? AND t.task_key = ?')
    .get(dataset, taskKey);
  if (!row) throw new Error(`no task ${dataset}/${taskKey}`);
  return row.id;
}

export function sample(taskId: number, sampleIndex: number, program = `def f():\n    return ${sampleIndex}`): NewSample {
  return { taskId, sampleIndex, seed: 1234 + sampleIndex, prompt: `prompt of task ${taskId}`, completion: program, program };
}
