import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';

/** A second Docker daemon on tcp://127.0.0.1:<port>, standing in for a remote Docker host. */
export interface SecondDockerd {
  /** tcp://127.0.0.1:<port>, for DOCKER_HOST. */
  host: string;
  docker: Docker;
  /** Stops the daemon (TERM, then KILL) and deletes everything it wrote. Idempotent. */
  stop: () => Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Why a second dockerd cannot run here (null: it can): it needs root and the dockerd binary. */
export function secondDockerdUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'a second dockerd needs root';
  try {
    execFileSync('dockerd', ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return 'dockerd is not installed';
  }
  return null;
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts a dockerd with its own data root, exec root (and so its own containerd), pid file and
 * tcp socket, and no networking of its own (no bridge, no iptables), so it cannot clash with the
 * machine's dockerd. Everything lives under one temp dir (short: containerd's socket path has a
 * length limit), removed by stop().
 */
export async function startSecondDockerd(): Promise<SecondDockerd> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-dd-'));
  const port = await freePort();
  const host = `tcp://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(root, 'dockerd.log'), 'a');
  const child = spawn('dockerd', [
    '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec'), '--pidfile', path.join(root, 'dockerd.pid'),
    '--host', host, '--bridge', 'none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--userland-proxy=false',
  ], { stdio: ['ignore', log, log], detached: false });
  fs.closeSync(log);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    if (!(await exited(child, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await exited(child, 5000);
    }
    // After a clean exit dockerd has unmounted its layers; after a KILL some may remain.
    try {
      execFileSync('umount', ['-R', '-l', root], { stdio: 'ignore' });
    } catch {
      // nothing mounted: the normal case
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  const docker = new Docker({ protocol: 'http', host: '127.0.0.1', port });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      const why = fs.readFileSync(path.join(root, 'dockerd.log'), 'utf8').split('\n').slice(-5).join('\n');
      await stop();
      throw new Error(`the second dockerd exited with ${child.exitCode}:\n${why}`);
    }
    try {
      await docker.ping();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`the second dockerd did not answer on ${host} within ${START_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { host, docker, stop };
}
