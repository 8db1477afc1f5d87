import path from 'node:path';
import type { DatasetFormat, ImportReport } from '../../preload/contract.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/store.js';
import { BadLines, readJsonl, type JsonlProgress } from './jsonl.js';
import { parseTaskLine } from './formats.js';
import type { TaskRecord } from './task-record.js';

export interface ImportOptions {
  format: DatasetFormat;
  /** Dataset name; default: the format's name for MBPP/HumanEval, the file's base name for JSONL. */
  name?: string | undefined;
  /** Split for custom JSONL rows that name none. */
  defaultSplit?: string | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: JsonlProgress) => void) | undefined;
}


export function defaultDatasetName(file: string, format: DatasetFormat): string {
  if (format !== 'jsonl') return format;
  return path.basename(file).replace(/\.(jsonl|json|ndjson)$/i, '') || 'tasks';
}

/**
 * Imports a task file into the store. The file is streamed and checked whole first; only when
 * every line is a valid task is anything written, in one transaction. Re-importing the same file
 * changes nothing; a changed task is rewritten in place (samples keep pointing at it).
 */
export async function importTasks(store: Store, file: string, options: ImportOptions): Promise<ImportReport> {
  const { format } = options;
  if (options.defaultSplit !== undefined && format !== 'jsonl') {
    throw new AppError('BAD_INPUT', `a default split applies to --format jsonl only`,
      format === 'mbpp' ? "MBPP gets the ILF paper's splits (prompt/test/refine/train)" : 'HumanEval is a test set');
  }
  const name = options.name ?? defaultDatasetName(file, format);
  const existing = store.catalog.dataset(name);
  if (existing && existing.format !== format) {
    throw new AppError('BAD_INPUT', `dataset "${name}" already exists with format ${existing.format}, not ${format}`,
      'choose another name with --name, or import with the same format');
  }

  const absolute = path.resolve(file);
  const tasks: TaskRecord[] = [];
  const firstLineOf = new Map<string, number>();
  const badLines = new BadLines();
  const bad = badLines.add;

  const lines = readJsonl(absolute, { signal: options.signal, onProgress: options.onProgress, onBadLine: bad });
  let next = await lines.next();
  while (!next.done) {
    const { lineNo, value } = next.value;
    const parsed = parseTaskLine(format, value, { defaultSplit: options.defaultSplit });
    if (!parsed.ok) {
      bad(lineNo, parsed.reason);
    } else if (firstLineOf.has(parsed.task.taskKey)) {
      // The id itself is not quoted: errors never repeat a file's contents (see readJsonl).
      bad(lineNo, `its task_id already appears on line ${firstLineOf.get(parsed.task.taskKey)}`);
    } else {
      firstLineOf.set(parsed.task.taskKey, lineNo);
      tasks.push(parsed.task);
    }
    next = await lines.next();
  }
  const summary = next.value;

  badLines.throwIfAny(file, 'nothing was imported',
    `fix the listed lines and import again${format === 'jsonl' ? ' (the JSONL task format is in the README)' : ''}`);
  if (tasks.length === 0) {
    throw new AppError('EMPTY_FILE', `${file} has no tasks`, 'the file is empty; give a JSONL file with one task per line');
  }
  options.signal?.throwIfAborted();

  const now = new Date().toISOString();
  const counts = store.transaction(() => {
    const datasetId = store.catalog.saveDataset(name, format, absolute, summary.sha256, now);
    return { datasetId, ...store.catalog.upsertTasks(datasetId, tasks, now) };
  });
  return {
    dataset: name,
    format,
    linesRead: summary.linesRead,
    added: counts.added,
    updated: counts.updated,
    unchanged: counts.unchanged,
    notInFile: counts.notInFile,
    splits: store.catalog.splitCounts(counts.datasetId),
  };
}
