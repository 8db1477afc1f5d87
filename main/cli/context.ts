import type { RequestInputArgs, RequestName, RequestResult, WireError } from '../../preload/contract.js';
import { dispatch, type Emit, type Handlers } from '../services/dispatch.js';
import type { LlamaRuntime } from '../models/runtime.js';
import type { Store } from '../store/store.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress goes to a terminal as a redrawn line, elsewhere as occasional plain lines. */
  isTty: boolean;
  env: NodeJS.ProcessEnv;
  /** Ctrl-C: long commands stop and clean up (containers, workers, the model). */
  signal?: AbortSignal;
}

/** Wrong words on the command line: exit 2 and point at --help. */
export class UsageError extends Error {}

/** A service answered with an error envelope: shown as its message and hint. */
export class RequestFailed extends Error {
  constructor(readonly wire: WireError) {
    super(wire.hint ? `${wire.message} — ${wire.hint}` : wire.message);
  }
}

export type Caller = <K extends RequestName>(name: K, ...input: RequestInputArgs<K>) => Promise<RequestResult<K>>;

export function makeCaller(handlers: Handlers): Caller {
  return async (name, ...input) => {
    const envelope = await dispatch(handlers, name, input[0]);
    if (!envelope.ok) throw new RequestFailed(envelope.error);
    return envelope.value as RequestResult<typeof name>;
  };
}

export interface Progress {
  show: (text: string) => void;
  emit: Emit;
  done: () => void;
}

/** Progress on stderr: a redrawn line on a terminal, a plain line every few seconds elsewhere. */
export function progressPrinter(io: CliIo): Progress {
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

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${v.toFixed(v >= 100 || u === 0 ? 0 : 1)} ${units[u]}`;
}

/** A number option: absent → fallback; present but not a number in range → a usage error naming it. */
export function numberOption(values: Record<string, unknown>, name: string, fallback: number, check: { integer?: boolean; min?: number; max?: number } = {}): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || (check.integer && !Number.isInteger(n)) ||
      (check.min !== undefined && n < check.min) || (check.max !== undefined && n > check.max)) {
    const range = [check.integer ? 'an integer' : 'a number', check.min !== undefined ? `≥ ${check.min}` : '', check.max !== undefined ? `≤ ${check.max}` : ''].filter(Boolean).join(' ');
    throw new UsageError(`--${name} must be ${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Everything a command needs; the store and the llama runtime open only when first asked for. */
export interface CommandContext {
  io: CliIo;
  values: Record<string, string | boolean | string[] | undefined>;
  args: string[];
  dataDir: string;
  store: () => Store;
  runtime: () => LlamaRuntime;
  call: Caller;
  progress: Progress;
}

export function stringOption(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function json(ctx: CommandContext): boolean {
  return ctx.values.json === true;
}
