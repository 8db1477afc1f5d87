import { execFile, spawn, type ChildProcessWithoutNullStreams, type StdioPipe } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { AppError } from '../errors.js';
import { lineHandle } from './line-handle.js';
import { seccompBpf } from './seccomp.js';
import { SCRATCH_BYTES, SCRATCH_DIRS, type SandboxBackend, type SandboxLimits, type WorkerHandle } from './types.js';

const run = promisify(execFile);

/**
 * Host uids for workers when we are root: three per worker (runner, harness, program), so
 * RLIMIT_NPROC counts only that worker's program and no two workers share an id.
 */
const ROOT_WORKER_UID_BASE = 61_000;
const UIDS_PER_WORKER = 3;
/** Inside ids, as in the Docker backend: the runner is 0 (with only SETUID/SETGID/KILL), then these. */
const HARNESS_UID = 65533;
const PROGRAM_UID = 65534;

export const DEFAULT_SANDBOX_PYTHON = '/usr/bin/python3';

interface PythonRuntime {
  /** The interpreter's real file, bound at /usr/bin/python3 inside. */
  executable: string;
  stdlib: string;
  /** Shared objects the interpreter and its extension modules load. */
  libraries: string[];
}

async function which(binary: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    try {
      await fs.promises.access(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Finds what a Python needs to run: its stdlib and the shared objects it links, found with ldd. */
async function inspectPython(python: string): Promise<PythonRuntime> {
  const executable = await fs.promises.realpath(python).catch(() => {
    throw new AppError('SANDBOX_UNAVAILABLE', `${python} does not exist`, 'install python3 (apt-get install python3) or set ILF_SANDBOX_PYTHON');
  });
  // Trusted code of ours, run on the host: where the standard library is.
  const { stdout } = await run(executable, ['-I', '-S', '-c', 'import json, sysconfig; print(json.dumps(sysconfig.get_paths()["stdlib"]))']);
  const stdlib = JSON.parse(stdout) as string;
  const dynload = path.join(stdlib, 'lib-dynload');
  const modules = (await fs.promises.readdir(dynload).catch(() => [])).filter((f) => f.endsWith('.so')).map((f) => path.join(dynload, f));
  const { stdout: lddOut } = await run('ldd', [executable, ...modules], { maxBuffer: 8 << 20 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const libraries = new Set<string>();
  for (const line of lddOut.split('\n')) {
    const match = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1]) libraries.add(match[1]);
  }
  return { executable, stdlib, libraries: [...libraries].sort() };
}

/** bubblewrap reads the compiled seccomp filter from this fd of its own. */
const SECCOMP_FD = 3;

/** Writes the seccomp program into bubblewrap's fd 3 (a pipe bwrap reads to its end). */
function sendSeccomp(stream: unknown): void {
  const pipe = stream as NodeJS.WritableStream & { on(event: 'error', f: () => void): void };
  pipe.on('error', () => undefined); // bwrap gone already: its exit says why
  pipe.end(seccompBpf());
}

/** The host ids a worker's inside ids map to: as root, three of its own; otherwise ourselves (one id). */
interface WorkerIds {
  /** Host uid (= gid) bwrap runs as; inside it is 0 (runner) or 65534 (one-id mode). */
  uid?: number;
  gid?: number;
  /** Root only: the uid map written into the worker's user namespace (runner 0, harness 65533, program 65534). */
  map?: string;
  /** Host uid of the program's processes (what RLIMIT_NPROC counts). */
  programUid?: number;
}

function workerIds(index: number): WorkerIds {
  if (process.getuid?.() !== 0) return {};
  const base = ROOT_WORKER_UID_BASE + UIDS_PER_WORKER * index;
  return {
    uid: base, gid: base, programUid: base + 2,
    map: `0 ${base} 1\n${HARNESS_UID} ${base + 1} 1\n${PROGRAM_UID} ${base + 2} 1\n`,
  };
}

/** bubblewrap writes {"child-pid": N} here, then waits on USERNS_BLOCK_FD while we write its id map. */
const INFO_FD = 4;
const USERNS_BLOCK_FD = 5;

/**
 * Starts bwrap: sends the seccomp filter and, as root, maps three ids into its user namespace
 * before anything runs inside (bubblewrap's --userns-block-fd protocol). A failure kills bwrap;
 * its exit then says why.
 */
function spawnBwrap(command: string, args: string[], env: NodeJS.ProcessEnv, ids: WorkerIds, timeout?: number): ChildProcessWithoutNullStreams {
  const stdio: StdioPipe[] = ['pipe', 'pipe', 'pipe', 'pipe', ...(ids.map ? ['pipe', 'pipe'] as const : [])];
  const child = spawn(command, args, { stdio, env, uid: ids.uid, gid: ids.gid, ...(timeout ? { timeout } : {}) });
  const extra = child.stdio as readonly unknown[];
  sendSeccomp(extra[SECCOMP_FD]);
  const map = ids.map;
  const info = extra[INFO_FD] as Readable | undefined;
  const block = extra[USERNS_BLOCK_FD] as Writable | undefined;
  if (map && info && block) {
    block.on('error', () => undefined);
    let text = '';
    const onInfo = (chunk: Buffer): void => {
      text += chunk.toString();
      const pid = /"child-pid"\s*:\s*(\d+)/.exec(text)?.[1];
      if (!pid) return;
      info.off('data', onInfo);
      info.resume();
      try {
        fs.writeFileSync(`/proc/${pid}/uid_map`, map);
        fs.writeFileSync(`/proc/${pid}/gid_map`, map);
        block.end('1');
      } catch {
        child.kill('SIGKILL');
      }
    };
    info.on('data', onInfo);
  }
  return child;
}

/** Room for the runner, zygote and harness above the per-program address-space limit (as in Docker). */
const RUNNER_MEMORY_MB = 256;

/**
 * A memory cgroup for one worker, where we may make one (root, with cgroup v1's memory controller or
 * cgroup v2 with memory delegated): the sum over all of a job's processes (and its tmpfs pages) is
 * then bounded, as in Docker. Elsewhere the bound is the per-process limit × the process cap.
 */
function memoryCgroup(tag: string, bytes: number, owner: { uid?: number; gid?: number }): string | undefined {
  if (process.getuid?.() !== 0 || process.platform !== 'linux') return undefined;
  const attempts: { base: string; limit: string; enable?: string }[] = [
    { base: '/sys/fs/cgroup/memory', limit: 'memory.limit_in_bytes' },
    { base: '/sys/fs/cgroup', limit: 'memory.max', enable: 'cgroup.subtree_control' },
  ];
  for (const a of attempts) {
    try {
      if (!fs.existsSync(path.join(a.base, a.limit === 'memory.max' ? 'cgroup.controllers' : a.limit))) continue;
      if (a.limit === 'memory.max' && !fs.readFileSync(path.join(a.base, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) continue;
      const parent = path.join(a.base, 'ilf-sandbox');
      fs.mkdirSync(parent, { recursive: true });
      if (a.enable) fs.writeFileSync(path.join(parent, a.enable), '+memory');
      const dir = path.join(parent, tag);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, a.limit), String(bytes));
      // The worker's own uid moves itself in (a process may move itself into a cgroup it can write).
      if (owner.uid !== undefined) fs.chownSync(path.join(dir, 'cgroup.procs'), owner.uid, owner.gid ?? owner.uid);
      return dir;
    } catch {
      // not allowed here: try the next kind, or go without
    }
  }
  return undefined;
}

/** Removes a worker's cgroup once its last process is gone (that can take a moment after bwrap exits). */
async function removeCgroup(dir: string | undefined): Promise<void> {
  if (!dir) return;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') return; // gone already, or not ours to remove
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function countProcessesOf(uid: number): number {
  let n = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.statSync(`/proc/${entry}`).uid === uid) n += 1;
    } catch {
      // gone
    }
  }
  return n;
}

/**
 * bubblewrap: every namespace unshared (network included), only the Python runtime bound read-only,
 * tmpfs work and tmp dirs, the runner as PID 1 of its own PID namespace, killed with its parent.
 */
export class BwrapBackend implements SandboxBackend {
  readonly name = 'bwrap' as const;

  private constructor(private readonly bwrap: string, private readonly runtime: PythonRuntime) {}

  static async detect(python = process.env.ILF_SANDBOX_PYTHON ?? DEFAULT_SANDBOX_PYTHON): Promise<BwrapBackend> {
    if (process.platform !== 'linux') {
      throw new AppError('SANDBOX_UNAVAILABLE', `bubblewrap runs on Linux only (this is ${process.platform})`, 'use the Docker backend: --backend docker');
    }
    const bwrap = await which('bwrap');
    if (!bwrap) throw new AppError('SANDBOX_UNAVAILABLE', 'bubblewrap (bwrap) is not installed', 'install it: sudo apt-get install bubblewrap (or use --backend docker)');
    const backend = new BwrapBackend(bwrap, await inspectPython(python));
    // Namespaces may be forbidden (a container without user namespaces, a restrictive sysctl): find out now.
    try {
      await new Promise<void>((resolve, reject) => {
        const ids = workerIds(0);
        const probe = spawnBwrap(bwrap, [...backend.args(ids), '/usr/bin/python3', '-I', '-S', '-c', 'print(1)'], backend.env(ids), ids, 10_000);
        probe.stdin?.end();
        let stderr = '';
        probe.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
        probe.once('error', reject);
        probe.once('close', (code) => (code === 0 ? resolve() : reject(Object.assign(new Error(`bwrap exited with ${code}`), { stderr }))));
      });
    } catch (e) {
      throw new AppError('SANDBOX_UNAVAILABLE', `bubblewrap cannot create its sandbox here: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`,
        'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or use --backend docker');
    }
    return backend;
  }

  private args(ids: WorkerIds): string[] {
    const binds = this.runtime.libraries.flatMap((lib) => ['--ro-bind', lib, lib]);
    // The folders above every bind, world-readable: bubblewrap makes missing parents 0700 for its
    // own id, which the program's and the harness's ids could not enter.
    const parents = new Set<string>();
    for (const file of ['/usr/bin/python3', this.runtime.stdlib, ...this.runtime.libraries]) {
      for (let dir = path.dirname(file); dir !== '/' && dir !== '.'; dir = path.dirname(dir)) parents.add(dir);
    }
    const dirs = [...parents].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))
      .flatMap((dir) => ['--perms', '0755', '--dir', dir]);
    // As root: the runner is 0 inside with only the capabilities to drop the harness and the program
    // to their own ids and to kill what a program leaves (as in Docker). Otherwise one id for all.
    const identity = ids.map
      ? ['--uid', '0', '--gid', '0', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_KILL',
        '--info-fd', String(INFO_FD), '--userns-block-fd', String(USERNS_BLOCK_FD)]
      : ['--uid', String(PROGRAM_UID), '--gid', String(PROGRAM_UID)];
    return [
      '--unshare-all', '--unshare-user', '--die-with-parent', '--new-session', '--as-pid-1',
      ...identity, '--hostname', 'sandbox',
      ...dirs,
      '--ro-bind', this.runtime.executable, '/usr/bin/python3',
      '--ro-bind', this.runtime.stdlib, this.runtime.stdlib,
      ...binds,
      '--proc', '/proc', '--dev', '/dev',
      // Capped, and emptied by the runner before every program (ILF_SCRATCH).
      '--size', String(SCRATCH_BYTES.work), '--tmpfs', '/work',
      '--size', String(SCRATCH_BYTES.tmp), '--tmpfs', '/tmp',
      '--size', String(SCRATCH_BYTES.shm), '--tmpfs', '/dev/shm',
      '--remount-ro', '/', // only /work, /tmp and /dev/shm stay writable
      '--chdir', '/work',
      '--seccomp', String(SECCOMP_FD),
    ];
  }

  private env(ids: WorkerIds): NodeJS.ProcessEnv {
    const separate = ids.map ? { ILF_PROGRAM_UID: String(PROGRAM_UID), ILF_HARNESS_UID: String(HARNESS_UID) } : {};
    return { PATH: '/usr/bin', LANG: 'C.UTF-8', HOME: '/work', PYTHONDONTWRITEBYTECODE: '1', ILF_WORK_ROOT: '/work', ILF_SCRATCH: SCRATCH_DIRS, ...separate };
  }

  startWorker(index: number, runnerSource: string, limits: SandboxLimits, tag: string): Promise<WorkerHandle> {
    const ids = workerIds(index);
    const uid = ids.programUid ?? process.getuid?.();
    const argv = [this.bwrap, ...this.args(ids), '/usr/bin/python3', '-I', '-S', '-B', '-u', '-c', runnerSource, tag];
    const cgroup = memoryCgroup(tag, (limits.memoryMb + RUNNER_MEMORY_MB) * 1024 * 1024, ids);
    // Joins the cgroup before bwrap starts, so every process of the worker is in it from the first.
    const [command, ...args] = cgroup ? ['/bin/sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv] : argv;
    const child = spawnBwrap(command ?? this.bwrap, args, this.env(ids), ids);
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve())).then(() => removeCgroup(cgroup));
    return Promise.resolve(lineHandle({
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
      processBase: uid === undefined ? 0 : countProcessesOf(uid),
    }));
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}
