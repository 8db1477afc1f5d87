import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { z } from 'zod';

/** Length groups and one epoch's tokens: the rows' own, computed (padding included), and with one context of contextSize (before grouping). */
const PlanFields = {
  too_long_lines: z.array(z.number()).optional(),
  groups: z.array(z.object({ context: z.number(), examples: z.number() })).optional(),
  useful_tokens_per_epoch: z.number().optional(),
  computed_tokens_per_epoch: z.number().optional(),
  fixed_context_tokens_per_epoch: z.number().optional(),
};

/** What the native trainer prints, one JSON object per stdout line (see native-models/trainer/trainer.cpp). */
export const TrainerEvent = z.discriminatedUnion('phase', [
  z.object({
    phase: z.literal('start'), examples: z.number(), train: z.number(), validation: z.number(), skipped_too_long: z.number(),
    target_tokens: z.number(), steps_per_epoch: z.number(), total_steps: z.number(), context: z.number(), threads: z.number(),
    resumed_from_step: z.number(), model_params: z.number(), ...PlanFields,
  }),
  // --plan: the same sizes, and nothing trained.
  z.object({
    phase: z.literal('plan'), examples: z.number(), train: z.number(), validation: z.number(), skipped_too_long: z.number(),
    steps_per_epoch: z.number(), total_steps: z.number(), context: z.number(), ...PlanFields,
  }),
  z.object({
    phase: z.literal('train'), step: z.number(), total_steps: z.number(), epoch: z.number(), loss: z.number(), accuracy: z.number(),
    // tokens_per_s counts the examples' own tokens; slots_per_s also the padding of each context
    // (optional: metrics files written by an older trainer lack it).
    tokens_per_s: z.number(), slots_per_s: z.number().optional(), eta_s: z.number(),
    // This invocation's totals so far (for benchmarks).
    tokens: z.number().optional(), slots: z.number().optional(), elapsed_s: z.number().optional(),
  }),
  z.object({ phase: z.literal('validation'), step: z.number(), epoch: z.number(), loss: z.number() }),
  z.object({ phase: z.literal('checkpoint'), step: z.number(), path: z.string() }),
  z.object({ phase: z.enum(['done', 'stopped']), step: z.number(), total_steps: z.number(), adapter: z.string() }),
  z.object({ phase: z.literal('matmul'), n: z.number(), threads: z.number(), flops: z.number(), backend: z.string(), cols: z.number().optional(), type: z.string().optional() }),
  z.object({ phase: z.literal('memory'), mib: z.number(), threads: z.number(), bytes_per_s: z.number() }),
  z.object({
    phase: z.literal('devices'),
    devices: z.array(z.object({
      name: z.string(), description: z.string(), backend: z.string(), type: z.enum(['cpu', 'gpu', 'igpu', 'accel']),
      memory_total: z.number(), memory_free: z.number(),
    })),
  }),
  z.object({ phase: z.literal('error'), kind: z.enum(['bad_input', 'failure']), message: z.string() }),
]);
export type TrainerEvent = z.infer<typeof TrainerEvent>;

/** The trainer's exit codes. */
export const TRAINER_EXIT = { done: 0, failure: 1, badInput: 2, stopped: 3 } as const;

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last `error` line, when the trainer explained itself. */
  error: string | undefined;
  /** The end of stderr (llama.cpp's log), for a failed run's report. */
  logTail: string;
}

const LOG_TAIL_BYTES = 8192;

/**
 * One trainer child process. Its stdin stays open: a "stop" line asks for a graceful stop, and if
 * this process dies the trainer sees EOF and stops on its own with a checkpoint (never orphaned).
 * Stdin rather than a signal because it works the same on every OS (Windows has no SIGTERM to
 * catch); the trainer still stops gracefully on SIGTERM/SIGINT on POSIX.
 */
export class TrainerProcess {
  readonly exited: Promise<TrainerExit>;
  private readonly child: ChildProcess;
  private killTimer: NodeJS.Timeout | undefined;
  private logTail = '';

  constructor(binary: string, args: readonly string[], onEvent: (e: TrainerEvent) => void,
    options: { onLog?: (chunk: string) => void; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(binary, [...args, '--stop-on-stdin-eof'], { stdio: ['pipe', 'pipe', 'pipe'], ...(options.env ? { env: options.env } : {}) });
    let lastError: string | undefined;
    this.child.stdin?.on('error', () => undefined); // a trainer that already exited
    this.child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.logTail = (this.logTail + text).slice(-LOG_TAIL_BYTES);
      options.onLog?.(text);
    });
    const lines = readline.createInterface({ input: this.child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.logTail = (this.logTail + line + '\n').slice(-LOG_TAIL_BYTES);
        return;
      }
      const event = TrainerEvent.safeParse(parsed);
      if (!event.success) return;
      if (event.data.phase === 'error') lastError = event.data.message;
      onEvent(event.data);
    });
    const linesClosed = new Promise<void>((resolve) => lines.once('close', () => resolve()));
    this.exited = new Promise<TrainerExit>((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(this.killTimer);
        // Every stdout line is delivered before the exit is reported.
        void linesClosed.then(() => resolve({ code, signal, error: lastError, logTail: this.logTail.trim() }));
      };
      this.child.once('error', (e) => {
        lastError = `could not start the trainer: ${e.message}`;
        finish(null, null);
      });
      this.child.once('close', finish);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Graceful: the trainer ends its current batch, checkpoints and writes its adapter; killed if it takes longer than `timeoutMs`. */
  stop(timeoutMs: number): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.stdin?.writable) this.child.stdin.write('stop\n');
    this.killTimer ??= setTimeout(() => this.kill(), timeoutMs);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
