import { parseArgs } from 'node:util';
import {
  DATASET_FORMATS,
  type DatasetFormat,
  type RequestInputArgs,
  type RequestName,
  type RequestResult,
  type WireError,
} from '../../preload/contract.js';
import { databasePath, resolveDataDir } from '../config/paths.js';
import { appVersion } from '../config/version.js';
import { describeError } from '../errors.js';
import { dispatch, type Emit, type Handlers } from '../services/dispatch.js';
import { createHandlers } from '../services/handlers.js';
import { Store } from '../store/store.js';
import { execGold } from '../sandbox/gold.js';
import type { BackendChoice } from '../sandbox/select.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress goes to a terminal as a redrawn line, elsewhere as occasional plain lines. */
  isTty: boolean;
  env: NodeJS.ProcessEnv;
  /** Ctrl-C: long commands stop and clean up (containers, workers). */
  signal?: AbortSignal;
}

const USAGE = `ilf — ILF Studio from a terminal (same store and services as the app)

Usage: ilf [--data-dir DIR] COMMAND [options]

Commands:
  import FILE --format mbpp|humaneval|jsonl [--name NAME] [--split SPLIT]
                      import tasks; importing the same file again changes nothing
  datasets [--json]   list datasets with their split counts
  tasks [--dataset NAME] [--split SPLIT] [--search WORDS] [--json]
                      list tasks (--json: a JSON array)
  task DATASET TASK_ID [--json]
                      show one task with the prompt a model sees
  info [--json]       version, data folder and database
  exec-gold --dataset NAME [--backend auto|bwrap|docker] [--json]
                      run every gold program of a dataset through the sandbox

Options:
  --data-dir DIR      where the database lives (env ILF_DATA_DIR; default: the app's user data folder)
  -h, --help          this text
`;

class UsageError extends Error {}

/** Unwraps an envelope or throws its error as one line. */
class RequestFailed extends Error {
  constructor(readonly wire: WireError) {
    super(wire.hint ? `${wire.message} — ${wire.hint}` : wire.message);
  }
}

function makeCaller(handlers: Handlers) {
  return async <K extends RequestName>(name: K, ...input: RequestInputArgs<K>): Promise<RequestResult<K>> => {
    const envelope = await dispatch(handlers, name, input[0]);
    if (!envelope.ok) throw new RequestFailed(envelope.error);
    return envelope.value as RequestResult<K>;
  };
}

/** Progress on stderr: a redrawn line on a terminal, a plain line every few seconds elsewhere. */
function progressPrinter(io: CliIo): { show: (text: string) => void; emit: Emit; done: () => void } {
  let lastPlain = Date.now(); // short commands print no progress at all
  let drew = false;
  const show = (text: string): void => {
    if (io.isTty) {
      io.stderr(`\r\x1b[K${text}`);
      drew = true;
    } else if (Date.now() - lastPlain > 2000) {
      lastPlain = Date.now();
      io.stderr(`${text}\n`);
    }
  };
  const emit: Emit = (name, payload) => {
    if (name !== 'import.progress') return;
    const p = payload as { linesRead: number; bytesRead: number; totalBytes: number };
    show(`reading: ${p.linesRead} lines, ${p.totalBytes > 0 ? Math.floor((100 * p.bytesRead) / p.totalBytes) : 100}%`);
  };
  return { show, emit, done: () => { if (drew) io.stderr('\r\x1b[K'); } };
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function isBackendChoice(value: string): value is BackendChoice {
  return value === 'auto' || value === 'bwrap' || value === 'docker';
}

function isFormat(value: string): value is DatasetFormat {
  return (DATASET_FORMATS as readonly string[]).includes(value);
}

/** Runs one CLI invocation; returns the exit code. Never calls process.exit, so tests can run it in-process. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'data-dir': { type: 'string' },
        format: { type: 'string' },
        name: { type: 'string' },
        split: { type: 'string' },
        dataset: { type: 'string' },
        search: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    io.stderr(`ilf: ${(e as Error).message}; see ilf --help\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === 'help') {
    io.stdout(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }

  const dataDir = resolveDataDir(values['data-dir'], io.env);
  let store: Store | undefined;
  const progress = progressPrinter(io);
  try {
    store = Store.open(databasePath(dataDir));
    const call = makeCaller(createHandlers({ store, dataDir, version: appVersion(), emit: progress.emit }));
    switch (command) {
      case 'import': {
        const [file, extra] = args;
        if (file === undefined || extra !== undefined) throw new UsageError('import takes one FILE');
        const format = values.format;
        if (format === undefined) throw new UsageError(`import needs --format (${DATASET_FORMATS.join('|')})`);
        if (!isFormat(format)) throw new UsageError(`unknown --format ${format}; use one of ${DATASET_FORMATS.join(', ')}`);
        const report = await call('datasets.import', { file, format, name: values.name, defaultSplit: values.split });
        progress.done();
        if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
        else {
          const splits = Object.entries(report.splits).map(([s, n]) => `${s} ${n}`).join(' / ');
          io.stdout(`${report.dataset}: ${report.added} added, ${report.updated} updated, ${report.unchanged} unchanged` +
            `${report.notInFile ? `, ${report.notInFile} no longer in the file (kept)` : ''}\nsplits: ${splits}\n`);
        }
        return 0;
      }
      case 'datasets': {
        const datasets = await call('datasets.list');
        if (values.json) io.stdout(`${JSON.stringify(datasets, null, 2)}\n`);
        else if (datasets.length === 0) io.stdout('no datasets yet: import one with `ilf import FILE --format mbpp|humaneval|jsonl`\n');
        else {
          io.stdout(table([['NAME', 'FORMAT', 'TASKS', 'SPLITS'], ...datasets.map((d) => [
            d.name, d.format, String(d.taskCount), Object.entries(d.splits).map(([s, n]) => `${s} ${n}`).join(' / '),
          ])]));
        }
        return 0;
      }
      case 'tasks': {
        const query = { dataset: values.dataset, split: values.split, search: values.search };
        const all = [];
        for (let offset = 0; ; offset += 1000) {
          const page = await call('tasks.list', { ...query, offset, limit: 1000 });
          all.push(...page.tasks);
          if (all.length >= page.total || page.tasks.length === 0) break;
        }
        if (values.json) io.stdout(`${JSON.stringify(all, null, 2)}\n`);
        else if (all.length === 0) io.stdout('no tasks match\n');
        else io.stdout(table([['DATASET', 'TASK', 'SPLIT', 'TEXT'], ...all.map((t) => [t.dataset, t.taskId, t.split, oneLine(t.text, 70)])]));
        return 0;
      }
      case 'task': {
        const [dataset, taskId] = args;
        if (dataset === undefined || taskId === undefined) throw new UsageError('task takes DATASET and TASK_ID');
        const task = await call('tasks.get', { dataset, taskId });
        if (values.json) io.stdout(`${JSON.stringify(task, null, 2)}\n`);
        else {
          io.stdout(`${task.dataset} ${task.taskId} (${task.split})\n\n--- prompt ---\n${task.prompt}\n--- tests (${task.tests.length}) ---\n` +
            `${task.tests.join('\n')}\n${task.setupCode ? `--- setup code (runs after the program) ---\n${task.setupCode}\n` : ''}`);
        }
        return 0;
      }
      case 'info': {
        const info = await call('app.info');
        io.stdout(values.json ? `${JSON.stringify(info, null, 2)}\n`
          : `ILF Studio ${info.version}\ndata folder: ${info.dataDir}\ndatabase:    ${info.databaseFile} (schema v${info.schemaVersion})\n`);
        return 0;
      }
      case 'exec-gold': {
        const dataset = values.dataset;
        if (dataset === undefined) throw new UsageError('exec-gold needs --dataset NAME');
        const backend = values.backend;
        if (!isBackendChoice(backend)) throw new UsageError(`unknown --backend ${backend}; use auto, bwrap or docker`);
        const report = await execGold(store, dataset, backend, {
          signal: io.signal,
          onProgress: (done, total) => progress.show(`running gold programs: ${done}/${total}`),
        });
        progress.done();
        if (values.json) {
          io.stdout(`${JSON.stringify({ backend: report.backend, total: report.total, passed: report.passed, failed: report.failed, seconds: Number(report.seconds.toFixed(3)) })}\n`);
        } else {
          io.stdout(`${report.backend}: ${report.passed}/${report.total} gold programs passed in ${report.seconds.toFixed(2)} s` +
            `${report.failed.length ? `\nfailed: ${report.failed.join(', ')}` : ''}` +
            `${report.sandboxErrors.length ? `\nsandbox errors (not the programs' fault): ${report.sandboxErrors.join(', ')}` : ''}\n`);
        }
        return report.failed.length === 0 ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    progress.done();
    if (e instanceof UsageError) {
      io.stderr(`ilf: ${e.message}; see ilf --help\n`);
      return 2;
    }
    io.stderr(`ilf: ${describeError(e)}\n`);
    if (e instanceof RequestFailed && e.wire.details) io.stderr(e.wire.details.map((d) => `  ${d}\n`).join(''));
    return 1;
  } finally {
    store?.close();
  }
}
