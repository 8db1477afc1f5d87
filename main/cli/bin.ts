#!/usr/bin/env node
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { SERIAL_THREADPOOL_ENV, hasSerialThreadpool } from '../models/runtime.js';
import { runCli } from './main.js';

const argv = process.argv.slice(2);
// Sampling needs a one-thread libuv pool from process start (see runtime.ts): commands that sample
// (server mode included: its rounds sample) re-run with it.
const SAMPLING_COMMANDS = ['sample', 'run', 'eval', 'refine', 'serve'];
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

if (argv.some((a) => SAMPLING_COMMANDS.includes(a)) && !hasSerialThreadpool()) {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, ...SERIAL_THREADPOOL_ENV },
  });
  // A signal sent to this process (kill, a service manager, a container stop) is the child's to
  // handle: it cleans up and exits, and so do we. A terminal's Ctrl-C reaches both; the child takes
  // the duplicate as the same request (see below).
  for (const signal of STOP_SIGNALS) process.on(signal, () => child.kill(signal));
  process.exitCode = await new Promise<number>((resolve) => {
    child.once('error', () => resolve(1));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
  });
} else {
  const interrupted = new AbortController();
  let firstSignalAt = 0;
  const onSignal = (): void => {
    if (!interrupted.signal.aborted) {
      firstSignalAt = Date.now();
      interrupted.abort(); // commands stop and dispose what they started
      return;
    }
    // One Ctrl-C can arrive twice (the terminal's and the re-executing parent's); a later one means "now".
    if (Date.now() - firstSignalAt < 1000) return;
    process.stderr.write('ilf: stopping now, without cleaning up\n');
    process.exit(130);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  process.exitCode = await runCli(argv, {
    signal: interrupted.signal,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTty: process.stderr.isTTY,
    env: process.env,
  });
  // Nothing may keep a finished command alive; the handlers above would otherwise hold the last signal.
  for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
}
