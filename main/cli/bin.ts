#!/usr/bin/env node
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SERIAL_THREADPOOL_ENV, hasSerialThreadpool } from '../models/runtime.js';
import { runCli } from './main.js';

const argv = process.argv.slice(2);
// Sampling needs a one-thread libuv pool from process start (see runtime.ts): commands that sample re-run with it.
const SAMPLING_COMMANDS = ['sample', 'run', 'eval', 'refine'];
if (argv.some((a) => SAMPLING_COMMANDS.includes(a)) && !hasSerialThreadpool()) {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, ...SERIAL_THREADPOOL_ENV },
  });
  process.exitCode = child.status ?? 1;
} else {
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  process.once('SIGTERM', () => interrupted.abort());
  process.exitCode = await runCli(argv, {
    signal: interrupted.signal,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTty: process.stderr.isTTY,
    env: process.env,
  });
}
