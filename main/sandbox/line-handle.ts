import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { WorkerHandle } from './types.js';

const DIAGNOSTICS_BYTES = 4096;

/**
 * A WorkerHandle over a runner's stdin/stdout streams, whichever backend carries them
 * (a bwrap child process, a Docker attach stream).
 */
export function lineHandle(parts: {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  kill: () => Promise<void>;
  processBase: number | null;
}): WorkerHandle {
  let errTail = '';
  parts.stderr.on('data', (chunk: Buffer) => {
    errTail = (errTail + chunk.toString('utf8')).slice(-DIAGNOSTICS_BYTES);
  });
  parts.stdin.on('error', () => undefined); // a dead worker shows up as the end of its stdout
  let killed: Promise<void> | undefined;
  return {
    lines: readline.createInterface({ input: parts.stdout, crlfDelay: Infinity }),
    send(line) {
      if (!parts.stdin.writableEnded && !parts.stdin.destroyed) parts.stdin.write(`${line}\n`);
    },
    kill() {
      killed ??= parts.kill();
      return killed;
    },
    diagnostics: () => errTail.trim().split('\n').slice(-5).join(' | '),
    processBase: parts.processBase,
  };
}
