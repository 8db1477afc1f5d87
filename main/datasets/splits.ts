/**
 * MBPP as re-split by the ILF paper (Chen et al. 2023): tasks 1–10 are the few-shot prompt
 * examples, 11–110 the test set, 111–310 the refine set, 311–974 the train set.
 */
export function mbppSplit(taskId: number): 'prompt' | 'test' | 'refine' | 'train' {
  if (taskId <= 10) return 'prompt';
  if (taskId <= 110) return 'test';
  if (taskId <= 310) return 'refine';
  return 'train';
}

/** HumanEval is a test set only. */
export const HUMANEVAL_SPLIT = 'test';

/** Custom JSONL tasks without a split go where ILF collects feedback. */
export const DEFAULT_CUSTOM_SPLIT = 'train';
