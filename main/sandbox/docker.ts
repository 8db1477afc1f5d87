import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { AppError } from '../errors.js';
import { dockerUnreachable } from './docker-desktop.js';
import { openDocker, resolveDockerTarget, type DockerTarget } from './docker-host.js';
import { ensureSandboxImage, withTimeout } from './docker-image.js';
import { lineHandle } from './line-handle.js';
import { dockerSeccompProfile } from './seccomp.js';
import { SCRATCH_BYTES, SCRATCH_DIRS, type SandboxBackend, type SandboxLimits, type WorkerHandle } from './types.js';
import { isProcessAlive } from '../process-alive.js';

export const DEFAULT_SANDBOX_IMAGE = 'ilf-sandbox-python:bookworm';
export const LABEL_APP = 'org.ilfstudio.app';
export const LABEL_SESSION = 'org.ilfstudio.session';
export const LABEL_PID = 'org.ilfstudio.pid';
export const LABEL_HOST = 'org.ilfstudio.host';
/** Which machine started the container: on a shared remote daemon, the reaper touches only its own machine's. */
export const LABEL_MACHINE = 'org.ilfstudio.machine';
const APP = 'ilf-studio';
const PING_TIMEOUT_MS = 10_000;

let machine: string | undefined;

/** A stable id for this machine (from /etc/machine-id where there is one, else the host name); hashed, so nothing leaks. */
export function machineLabel(): string {
  if (machine === undefined) {
    let raw = os.hostname();
    try {
      raw = fs.readFileSync('/etc/machine-id', 'utf8').trim() || raw;
    } catch {
      // not Linux, or no machine id: the host name it is
    }
    machine = createHash('sha256').update(`ilf-studio:${raw}`).digest('hex').slice(0, 16);
  }
  return machine;
}

/** Ours: started from this machine (older containers without the machine label: by host name). */
function fromThisMachine(labels: Record<string, string>): boolean {
  const m = labels[LABEL_MACHINE];
  return m !== undefined ? m === machineLabel() : labels[LABEL_HOST] === os.hostname();
}

/** Room for the runner, zygote and harness above the per-program address-space limit. */
const RUNNER_MEMORY_MB = 256;
/** The program and the harness each run as their own uid; the runner (root) drops them per process. */
const PROGRAM_UID = 65534;
const HARNESS_UID = 65533;

function ownerGone(labels: Record<string, string>): boolean {
  if (!fromThisMachine(labels)) return false; // another machine's session: not ours to judge
  const pid = Number(labels[LABEL_PID]);
  return !Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid);
}

export interface ConnectOptions {
  image?: string;
  /** Default: DOCKER_HOST, else the current docker context, else the local socket. */
  target?: DockerTarget;
  docker?: Docker;
  /** Shipping the image to a daemon that lacks it: progress for a person. */
  onProgress?: (message: string, milestone: boolean) => void;
}

/**
 * Docker: long-lived worker containers, each running the runner as PID 1 and fed jobs over its
 * attached stdin. No network, read-only root, capped tmpfs work dirs, no-new-privileges, our seccomp
 * profile, pids/memory/CPU limits (the memory cgroup bounds the sum over all of a job's processes).
 * The runner starts as root with only CAP_SETUID/SETGID (to drop each process to its uid: program
 * 65534, harness 65533) and CAP_KILL (to kill what the program leaves). Every container is labelled with the app and this
 * session; leftovers of earlier sessions are removed when a backend connects.
 */
export class DockerBackend implements SandboxBackend {
  readonly name = 'docker' as const;
  readonly sessionId = randomUUID();
  private readonly containers = new Map<string, Docker.Container>();

  private constructor(private readonly docker: Docker, readonly image: string, readonly target: DockerTarget,
    /** The daemon's CPUs (docker info NCPU): one worker each, wherever the daemon runs. */
    readonly suggestedWorkers: number | undefined) {}

  static async connect(options: ConnectOptions = {}): Promise<DockerBackend> {
    const target = options.target ?? resolveDockerTarget();
    const docker = options.docker ?? openDocker(target);
    const image = options.image ?? process.env.ILF_SANDBOX_IMAGE ?? DEFAULT_SANDBOX_IMAGE;
    const where = `${target.address} (${target.source})`;
    let info: { NCPU?: unknown };
    try {
      // A remote host that drops packets would otherwise hang here for minutes.
      info = await withTimeout(docker.info() as Promise<{ NCPU?: unknown }>, PING_TIMEOUT_MS, 'the daemon');
    } catch (e) {
      // The local default daemon gets Docker Desktop's install/start advice; a remote one, where it came from.
      if (target.isDefault) throw dockerUnreachable(e);
      throw new AppError('SANDBOX_UNAVAILABLE', `cannot reach the Docker daemon at ${where}: ${(e as Error).message}`,
        'check that the host is up and its daemon listens there (`docker -H ADDRESS info`), or unset DOCKER_HOST / `docker context use default`');
    }
    await ensureSandboxImage(docker, target, image, options.onProgress ? { onProgress: options.onProgress } : {});
    const ncpu = typeof info.NCPU === 'number' && Number.isInteger(info.NCPU) && info.NCPU > 0 ? info.NCPU : undefined;
    const backend = new DockerBackend(docker, image, target, ncpu);
    await backend.reapLeftovers();
    return backend;
  }

  /**
   * Removes containers that earlier sessions of the app on this machine left behind (a crash, a
   * kill -9): those whose process here is gone, and any that have exited. Another live session's
   * containers (the app and the CLI at once) are left alone, and so is everything other machines
   * started on a shared daemon: only they can tell whether their sessions still live.
   */
  async reapLeftovers(): Promise<number> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_APP}=${APP}`] } });
    // 'created' is not stale: a live session creates a container, then attaches and starts it; taking
    // it in between kills that session's worker at birth (seen with several sessions on one daemon).
    const stale = found.filter((c) => c.Labels[LABEL_SESSION] !== this.sessionId && fromThisMachine(c.Labels) &&
      (ownerGone(c.Labels) || c.State === 'exited' || c.State === 'dead'));
    await Promise.all(stale.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    return stale.length;
  }

  async startWorker(index: number, runnerSource: string, limits: SandboxLimits, tag: string): Promise<WorkerHandle> {
    const memory = (limits.memoryMb + RUNNER_MEMORY_MB) * 1024 * 1024;
    const container = await this.docker.createContainer({
      Image: this.image,
      name: `ilf-sandbox-${this.sessionId.slice(0, 8)}-${index}-${Date.now().toString(36)}`,
      // No WorkingDir: Docker 20.10 re-creates it 0755 over the tmpfs, and nobody could write there.
      Cmd: ['/usr/bin/python3', '-I', '-S', '-B', '-u', '-c', runnerSource, tag],
      User: '0:0',
      Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8', 'HOME=/work', 'PYTHONDONTWRITEBYTECODE=1', 'ILF_WORK_ROOT=/work',
        `ILF_SCRATCH=${SCRATCH_DIRS}`, `ILF_PROGRAM_UID=${PROGRAM_UID}`, `ILF_HARNESS_UID=${HARNESS_UID}`],
      Labels: { [LABEL_APP]: APP, [LABEL_SESSION]: this.sessionId, [LABEL_PID]: String(process.pid), [LABEL_HOST]: os.hostname(),
        [LABEL_MACHINE]: machineLabel() },
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      OpenStdin: true,
      StdinOnce: false,
      Tty: false,
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        Tmpfs: {
          '/work': `rw,nosuid,nodev,size=${SCRATCH_BYTES.work},mode=1777`,
          '/tmp': `rw,nosuid,nodev,size=${SCRATCH_BYTES.tmp},mode=1777`,
        },
        ShmSize: SCRATCH_BYTES.shm,
        CapDrop: ['ALL'],
        CapAdd: ['SETUID', 'SETGID', 'KILL'],
        SecurityOpt: ['no-new-privileges', `seccomp=${dockerSeccompProfile()}`],
        PidsLimit: limits.processes + 8, // + runner, zygote, harness and the zygote's short-lived child
        Memory: memory,
        MemorySwap: memory,
        NanoCpus: 1_000_000_000,
        Init: false, // the runner must be PID 1: it reaps and kills everything a program leaves
        AutoRemove: false,
      },
    });
    this.containers.set(container.id, container);
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    // dockerode leaves its modem untyped; this is the one method we use.
    (this.docker.modem as { demuxStream(s: Duplex, out: PassThrough, err: PassThrough): void }).demuxStream(stream, stdout, stderr);
    stream.on('end', () => {
      stdout.end();
      stderr.end();
    });
    stream.on('error', () => {
      stdout.end();
      stderr.end();
    });
    await container.start();
    return lineHandle({
      stdin: stream,
      stdout,
      stderr,
      kill: async () => {
        this.containers.delete(container.id);
        stream.destroy();
        await container.remove({ force: true }).catch(() => undefined);
      },
      processBase: null, // the container's pids cgroup caps processes
    });
  }

  async dispose(): Promise<void> {
    const all = [...this.containers.values()];
    this.containers.clear();
    await Promise.all(all.map((c) => c.remove({ force: true }).catch(() => undefined)));
  }
}
