import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './shared-data.js';

/**
 * llama-server built by .ci/setup-llama-server from the llama.cpp source node-llama-cpp ships:
 * $ILF_LLAMA_SERVER, else ~/.cache/ilf/llama-server-<commit>/llama-server. In CI (CI=true) it must
 * be there: a missing binary fails the suite instead of skipping it.
 */
export function llamaServerBinary(): { path: string | null; reason: string | null } {
  const fromEnv = process.env.ILF_LLAMA_SERVER;
  if (fromEnv) {
    if (fs.existsSync(fromEnv)) return { path: fromEnv, reason: null };
    return missing(`ILF_LLAMA_SERVER=${fromEnv} does not exist`);
  }
  const bundle = path.join(repoRoot, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');
  let commit: string;
  try {
    commit = execFileSync('git', ['bundle', 'list-heads', bundle], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(' HEAD'))?.split(' ')[0] ?? '';
  } catch (e) {
    return missing(`cannot read ${bundle}: ${(e as Error).message}`);
  }
  const cached = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ilf', `llama-server-${commit}`, 'llama-server');
  if (commit && fs.existsSync(cached)) return { path: cached, reason: null };
  return missing(`no llama-server at ${cached}: build it with bash .ci/setup-llama-server`);
}

function missing(reason: string): { path: null; reason: string } {
  if (process.env.CI) throw new Error(`CI must have llama-server: ${reason}`);
  return { path: null, reason };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface LlamaServer {
  url: string;
  port: number;
  process: ChildProcess;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
}

/**
 * Starts llama-server on 127.0.0.1 serving `model` as `alias`, and waits for /health. Its log
 * goes to `logFile` (read it when a test fails).
 */
export async function startLlamaServer(binary: string, options: {
  model: string; alias: string; logFile: string; port?: number; parallel?: number; threads?: number;
  contextSize?: number; lora?: readonly string[];
}): Promise<LlamaServer> {
  const port = options.port ?? (await freePort());
  const parallel = options.parallel ?? 4;
  const args = [
    '-m', options.model, '--alias', options.alias, '--host', '127.0.0.1', '--port', String(port),
    '--parallel', String(parallel), '--threads', String(options.threads ?? 1), '--threads-http', '2',
    '-c', String((options.contextSize ?? 2048) * parallel), '--no-webui', '--no-warmup',
    ...(options.lora ?? []).flatMap((f) => ['--lora', f]),
    ...(options.lora?.length ? ['--lora-init-without-apply'] : []),
  ];
  const log = fs.openSync(options.logFile, 'a');
  const child = spawn(binary, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`llama-server exited (${child.exitCode ?? child.signalCode}): ${fs.readFileSync(options.logFile, 'utf8').slice(-2000)}`);
    }
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`llama-server did not become healthy in 60 s: ${fs.readFileSync(options.logFile, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, process: child, kill };
}
