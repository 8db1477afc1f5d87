import { parseArgs } from 'node:util';
import { databasePath, resolveDataDir } from '../config/paths.js';
import { appVersion } from '../config/version.js';
import { describeError } from '../errors.js';
import { LlamaRuntime, type ComputeBackend } from '../models/runtime.js';
import { createHandlers, type ServiceHandlers } from '../services/handlers.js';
import { Store } from '../store/store.js';
import { datasetsCommand, importCommand, infoCommand, taskCommand, tasksCommand } from './commands/catalog.js';
import { devCommand } from './commands/dev.js';
import { hardwareCommand, modelsCommand } from './commands/models.js';
import { sampleCommand } from './commands/sample.js';
import { execGoldCommand } from './commands/sandbox.js';
import { failuresCommand, testSamplesCommand } from './commands/pipeline.js';
import { serveCommand } from './commands/serve.js';
import { trainCommand } from './commands/train.js';
import { evalCommand, exportCommand, feedbackCommand, importFeedbackCommand, refineCommand, reviewCommand, runCommand } from './commands/loop.js';
import { makeCaller, progressPrinter, RequestFailed, UsageError, type CliIo, type CommandContext } from './context.js';

export type { CliIo } from './context.js';

const USAGE = `ilf — ILF Studio from a terminal (same store and services as the app)

Usage: ilf [--data-dir DIR] COMMAND [options]

Tasks:
  import FILE --format mbpp|humaneval|jsonl [--name NAME] [--split SPLIT]
                      import tasks; importing the same file again changes nothing
  datasets [--json]   list datasets with their split counts
  tasks [--dataset NAME] [--split SPLIT] [--search WORDS] [--json]
                      list tasks (--json: a JSON array)
  task DATASET TASK_ID [--json]
                      show one task with the prompt a model sees
Sandbox:
  exec-gold --dataset NAME [--backend auto|bwrap|docker] [--json]
                      run every gold program of a dataset through the sandbox
Models:
  models list [--json]                    registered models and adapters
  models add FILE.gguf [--name NAME]      check and register a local GGUF
  models download REF [--sha256 HEX]      hf:OWNER/REPO/FILE.gguf or a URL; resumes; registers
  models add-adapter FILE.gguf --model ID register a LoRA adapter for its base model
  models recommended [--json]             code models that fit a desktop GPU
  hardware [--json] [--gpu auto|cuda|vulkan|metal|cpu]
                      what llama.cpp runs on, devices, VRAM, threads
  sample --model ID --dataset NAME [--split S] [--adapter ID] [--n 30] [--temperature 0.8]
         [--top-p 0.95] [--max-tokens 300] [--seed 1] [--format completion|chat] [--limit N]
         [--stop TEXT ...] [--resume RUN_ID] [--json]
                      draw n programs per task and store them with their provenance
Server mode:
  serve [--host 127.0.0.1] [--port 7860] [--token TOKEN]
                      the app in a browser; any --host but loopback requires the access token it prints
ILF loop:
  test-samples --run RUN_ID [--backend auto|bwrap|docker] [--json]
                      run every untested sample of a sampling run in the sandbox (resumable)
  failures [--run RUN_ID] [--dataset NAME] [--split S] [--limit 50] [--all] [--json]
                      failing samples of tasks with no passing sample, newest first (--all: the others too, marked solved)
  train --model ID (--data FILE.jsonl | --training-set ID) [--out DIR] [--rank 8] [--alpha 16]
        [--lr 2e-4] [--epochs 3] [--batch-size 1] [--context 1024] [--validation 0.1] [--seed 42]
        [--targets attn_q,attn_k,...] [--schedule linear|constant] [--checkpoint-every 50] [--json]
                      LoRA fine-tune on the GGUF itself; Ctrl-C stops with a usable adapter
  train --resume RUN_ID | --list
                      continue a stopped or interrupted run from its checkpoint; list runs
  run --model ID --dataset NAME [--split train] [--eval-split test] [--limit N] [--n 30] [--feedback human|execution|model|shuffled-control]
      [--critic ID] [--k 4] [--review human|auto] [--eval-n 10] [--epochs 3] [--lr 2e-4] [--json]
                      one ILF round: sample → test → feedback → refine → review → train → evaluate;
                      waits at human steps; --resume ID continues after them or after a crash;
                      --next ID starts the next round from that round's adapter; --list
  feedback add --sample ID (--text TEXT | --file F) [--author NAME]
  feedback auto --run RUN_ID [--source execution|shuffled-control|model] [--critic ID]
  refine --feedback ID[,ID…] --model ID [--adapter ID] [--k 4] [--few-shot 0]
                      k refinements per feedback, each tested in the sandbox
  review --refinement ID (--accept | --reject) [--edit FILE] [--reviewer NAME] [--note TEXT]
                      accept (only passing programs; an edit is re-tested first) or reject
  review --write FILE --feedback ID [--reviewer NAME]
                      a refinement written by a person, tested
  eval --model ID [--adapter ID] --dataset NAME [--split test] [--n 10] [--temperature 0.8] [--limit N] [--resume RUN]
  eval --compare BEFORE,AFTER | --list
                      pass@1/pass@10 (unbiased), paired difference with a bootstrap CI
  export training-set --id N [--format messages|prompt-completion] --out FILE
  export samples --run N --out FILE          human-eval / EvalPlus {task_id, completion} JSONL
  export feedback [--run N] --out FILE       feedback with refinements, reviews and lineage
  export evaluation --id N [--format json|csv] --out FILE
  import-feedback FILE --dataset NAME [--map task_id=KEY,program=KEY,feedback=KEY,refinement=KEY,annotator=KEY] [--annotator NAME]
                      annotations from JSONL; originals must fail and refinements pass in the sandbox
Development:
  dev make-model --out FILE [--params 20M] [--adapter-out FILE] [--rank 8] [--seed N] [--chat]
      [--arch llama|qwen2|gemma2|starcoder2|phi3|granite] [--vocab N] [--type F32|F16|BF16|Q8_0|Q4_0]
      [--shape qwen2.5-coder-0.5b|qwen2.5-coder-1.5b]
                      write a generated GGUF model (random weights) and optionally a matching adapter;
                      --arch gives that architecture's tensor layout, special tokens, chat template and
                      real vocabulary size; --shape a real model's dimensions (0.5B: seconds)
  info [--json]       version, data folder and database

Options:
  --data-dir DIR      where the database lives (env ILF_DATA_DIR; default: the app's user data folder)
  --gpu BACKEND       llama.cpp compute backend (env ILF_COMPUTE_BACKEND; default auto)
  --threads N         llama.cpp CPU threads (default: physical cores)
  -h, --help          this text
`;

const COMMANDS: Record<string, (ctx: CommandContext) => Promise<number>> = {
  import: importCommand,
  datasets: datasetsCommand,
  tasks: tasksCommand,
  task: taskCommand,
  info: infoCommand,
  'exec-gold': execGoldCommand,
  models: modelsCommand,
  hardware: hardwareCommand,
  sample: sampleCommand,
  dev: devCommand,
  serve: serveCommand,
  'test-samples': testSamplesCommand,
  failures: failuresCommand,
  train: trainCommand,
  run: runCommand,
  feedback: feedbackCommand,
  refine: refineCommand,
  review: reviewCommand,
  eval: evalCommand,
  export: exportCommand,
  'import-feedback': importFeedbackCommand,
};

const GPU_CHOICES: readonly ComputeBackend[] = ['auto', 'cuda', 'vulkan', 'metal', 'cpu'];

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
        backend: { type: 'string' },
        gpu: { type: 'string' },
        threads: { type: 'string' },
        model: { type: 'string' },
        adapter: { type: 'string' },
        n: { type: 'string' },
        temperature: { type: 'string' },
        'top-p': { type: 'string' },
        'max-tokens': { type: 'string' },
        seed: { type: 'string' },
        limit: { type: 'string' },
        stop: { type: 'string', multiple: true },
        resume: { type: 'string' },
        sha256: { type: 'string' },
        out: { type: 'string' },
        params: { type: 'string' },
        arch: { type: 'string' },
        shape: { type: 'string' },
        type: { type: 'string' },
        vocab: { type: 'string' },
        'adapter-out': { type: 'string' },
        rank: { type: 'string' },
        host: { type: 'string' },
        run: { type: 'string' },
        port: { type: 'string' },
        token: { type: 'string' },
        data: { type: 'string' },
        'training-set': { type: 'string' },
        alpha: { type: 'string' },
        lr: { type: 'string' },
        epochs: { type: 'string' },
        'batch-size': { type: 'string' },
        context: { type: 'string' },
        validation: { type: 'string' },
        targets: { type: 'string' },
        schedule: { type: 'string' },
        'weight-decay': { type: 'string' },
        'checkpoint-every': { type: 'string' },
        list: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        text: { type: 'string' },
        file: { type: 'string' },
        sample: { type: 'string' },
        source: { type: 'string' },
        critic: { type: 'string' },
        feedback: { type: 'string' },
        k: { type: 'string' },
        'few-shot': { type: 'string' },
        refinement: { type: 'string' },
        accept: { type: 'boolean', default: false },
        reject: { type: 'boolean', default: false },
        edit: { type: 'string' },
        write: { type: 'string' },
        reviewer: { type: 'string' },
        author: { type: 'string' },
        note: { type: 'string' },
        compare: { type: 'string' },
        'eval-split': { type: 'string' },
        'eval-limit': { type: 'string' },
        'eval-n': { type: 'string' },
        'eval-temperature': { type: 'string' },
        review: { type: 'string' },
        next: { type: 'string' },
        id: { type: 'string' },
        map: { type: 'string' },
        annotator: { type: 'string' },
        chat: { type: 'boolean', default: false },
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
  const progress = progressPrinter(io);
  let store: Store | undefined;
  let runtime: LlamaRuntime | undefined;
  const openStore = (): Store => (store ??= Store.open(databasePath(dataDir)));
  let caller: ReturnType<typeof makeCaller> | undefined;
  let services: ServiceHandlers | undefined;
  try {
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command "${command}"`);
    const gpu = values.gpu ?? io.env.ILF_COMPUTE_BACKEND ?? 'auto';
    if (!(GPU_CHOICES as readonly string[]).includes(gpu)) throw new UsageError(`unknown --gpu ${gpu}; use ${GPU_CHOICES.join(', ')}`);
    const threads = values.threads === undefined ? undefined : Number(values.threads);
    if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw new UsageError(`--threads must be a positive integer, got "${values.threads}"`);
    const openRuntime = (): LlamaRuntime => (runtime ??= new LlamaRuntime({ backend: gpu as ComputeBackend, ...(threads ? { threads } : {}) }));
    const ctx: CommandContext = {
      io,
      values,
      args,
      dataDir,
      store: openStore,
      runtime: openRuntime,
      call: (name, ...input) => {
        caller ??= makeCaller(services = createHandlers({ store: openStore(), dataDir, version: appVersion(), emit: progress.emit, runtime: openRuntime }));
        return caller(name, ...input);
      },
      progress,
    };
    return await run(ctx);
  } catch (e) {
    progress.done();
    if (e instanceof UsageError) {
      io.stderr(`ilf: ${e.message}; see ilf --help\n`);
      return 2;
    }
    if ((e as Error).name === 'AbortError') {
      io.stderr('ilf: cancelled\n');
      return 130;
    }
    io.stderr(`ilf: ${describeError(e)}\n`);
    if (e instanceof RequestFailed && e.wire.details) io.stderr(e.wire.details.map((d) => `  ${d}\n`).join(''));
    return 1;
  } finally {
    await services?.[Symbol.asyncDispose]();
    await runtime?.dispose();
    store?.close();
  }
}
