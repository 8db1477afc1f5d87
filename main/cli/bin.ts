#!/usr/bin/env node
import { runCli } from './main.js';

const interrupted = new AbortController();
process.once('SIGINT', () => interrupted.abort());
const code = await runCli(process.argv.slice(2), {
  signal: interrupted.signal,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTty: process.stderr.isTTY,
  env: process.env,
});
process.exitCode = code;
