import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Envelope, RequestName } from '../../preload/contract.js';
import { createPortClient } from '../../preload/port-protocol.js';
import { ServiceProcess, serviceArgs, serviceEnv, type ServiceOptions } from '../../main/app/service-protocol.js';
import { repoRoot } from './shared-data.js';

/** The built entry Electron's main forks (npm run build puts it there). */
export const serviceEntry = path.join(repoRoot, 'dist', 'main', 'app', 'service-process.js');

export interface ForkedService {
  child: ChildProcess;
  service: ServiceProcess<never>;
  /** A contract request over the parent channel, answered by the service's dispatch. */
  call: (name: RequestName, input?: unknown) => Promise<Envelope<unknown>>;
  events: { name: string; payload: unknown }[];
  /** Every message on the parent channel that is not a control message, in order. */
  raw: unknown[];
  stderr: () => string;
}

/**
 * Forks the service process from Node the way Electron's main does with utilityProcess.fork: the
 * same entry, the same arguments and environment (serviceArgs, serviceEnv), structured-clone
 * messages; the parent channel is Node's IPC instead of process.parentPort.
 */
export function forkService(options: ServiceOptions, baseEnv: NodeJS.ProcessEnv): ForkedService {
  const child = fork(serviceEntry, serviceArgs(options), { env: serviceEnv(baseEnv), serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const service = new ServiceProcess<never>({
    postMessage: (m) => { child.send(m as Parameters<ChildProcess['send']>[0]); },
    onMessage: (l) => child.on('message', l),
    onExit: (l) => child.on('exit', (code) => l(code)),
    kill: () => child.kill('SIGTERM'),
  });
  const events: { name: string; payload: unknown }[] = [];
  const raw: unknown[] = [];
  const client = createPortClient((name, payload) => events.push({ name, payload }));
  client.open((m) => service.post(m));
  service.onMessage((m) => {
    raw.push(m);
    client.receive(m);
  });
  return { child, service, call: (name, input) => client.request(name, input), events, raw, stderr: () => err };
}
