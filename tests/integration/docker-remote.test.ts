import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerBackend, LABEL_APP, LABEL_HOST, LABEL_MACHINE, LABEL_PID, LABEL_SESSION, DEFAULT_SANDBOX_IMAGE, machineLabel } from '../../main/sandbox/docker.js';
import { resolveDockerTarget, type DockerTarget } from '../../main/sandbox/docker-host.js';
import { ensureSandboxImage, hasImage } from '../../main/sandbox/docker-image.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import { ilf, requireBuiltCli } from '../helpers/cli.js';
import { secondDockerdUnavailable, startSecondDockerd, type SecondDockerd } from '../helpers/dockerd.js';
import { sharedData, tempDir } from '../helpers/fs.js';

/*
 * A second dockerd on tcp://127.0.0.1 stands in for a remote Docker host (none can exist here): its
 * own data root, so it starts with no images, and its own containerd. In CI it must run.
 */
const unavailable = secondDockerdUnavailable() ?? (fs.existsSync('/var/run/docker.sock') ? null : 'no local dockerd');
if (unavailable && process.env.CI) throw new Error(`CI must be able to start a second dockerd: ${unavailable}`);

const TINY = 'ilf-test-tiny:1';

describe.skipIf(unavailable !== null)(unavailable ? `remote Docker host (not here: ${unavailable})` : 'a remote Docker host (a second dockerd on tcp://127.0.0.1)', () => {
  let remote: SecondDockerd;
  let target: DockerTarget;
  let ncpu: number;
  let work: string;

  beforeAll(async () => {
    requireBuiltCli();
    remote = await startSecondDockerd();
    target = resolveDockerTarget({ DOCKER_HOST: remote.host }, '/nonexistent');
    ncpu = ((await remote.docker.info()) as { NCPU: number }).NCPU;
    work = fs.mkdtempSync(path.join(path.dirname(tempDir()), 'ilf-remote-'));
  }, 90_000);

  afterAll(async () => {
    await remote?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    try {
      execFileSync('docker', ['rmi', '-f', TINY], { stdio: 'ignore' });
    } catch {
      // never made
    }
  }, 60_000);

  it('ships the missing sandbox image to the host and passes MBPP gold 974/974 there, one worker per daemon CPU', async () => {
    expect(await hasImage(remote.docker, DEFAULT_SANDBOX_IMAGE)).toBe(false);
    const dir = path.join(work, 'gold');
    await ilf(['--data-dir', dir, 'import', sharedData('mbpp.jsonl'), '--format', 'mbpp']);
    const r = await ilf(['--data-dir', dir, 'exec-gold', '--dataset', 'mbpp', '--backend', 'docker', '--json'], { DOCKER_HOST: remote.host });
    expect(r.code, `${r.stdout}\n${r.stderr.split('\n').filter((l) => !l.startsWith('running gold')).join('\n')}`).toBe(0);
    expect(r.stderr).toContain(`copying the sandbox image ${DEFAULT_SANDBOX_IMAGE} from unix:///var/run/docker.sock to ${remote.host}`);
    expect(r.stderr).toContain(`the sandbox image ${DEFAULT_SANDBOX_IMAGE} is now on ${remote.host}`);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'docker', workers: ncpu, total: 974, passed: 974, failed: [] });
    expect(await hasImage(remote.docker, DEFAULT_SANDBOX_IMAGE)).toBe(true);
    // Every worker container ran on the remote host and is gone afterwards.
    expect(await remote.docker.listContainers({ all: true, filters: { label: [`${LABEL_APP}=ilf-studio`] } })).toEqual([]);
  }, 300_000);

  it('--workers N overrides the daemon\'s CPU count; a present image is not shipped again', async () => {
    const dir = path.join(work, 'workers');
    const file = path.join(work, 'two.jsonl');
    fs.writeFileSync(file, [
      { task_id: 'a', text: 'Add.', tests: ['assert add(1, 2) == 3'], reference_solution: 'def add(a, b):\n    return a + b\n' },
      { task_id: 'b', text: 'Negate.', tests: ['assert neg(1) == -1'], reference_solution: 'def neg(a):\n    return -a\n' },
    ].map((t) => JSON.stringify(t)).join('\n') + '\n');
    await ilf(['--data-dir', dir, 'import', file, '--format', 'jsonl', '--name', 'two']);
    const r = await ilf(['--data-dir', dir, 'exec-gold', '--dataset', 'two', '--backend', 'docker', '--workers', '3', '--json'], { DOCKER_HOST: remote.host });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ workers: 3, total: 2, passed: 2 });
    expect(r.stderr).not.toContain('copying');
    const bad = await ilf(['--data-dir', dir, 'exec-gold', '--dataset', 'two', '--backend', 'docker', '--workers', '0'], { DOCKER_HOST: remote.host });
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('--workers must be an integer ≥ 1') });
  }, 120_000);

  it('the current docker context (config.json → contexts/meta/<sha256>/meta.json) picks the host when DOCKER_HOST is unset', async () => {
    const config = path.join(work, 'docker-config');
    const name = 'lab-server';
    const meta = path.join(config, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'));
    fs.mkdirSync(meta, { recursive: true });
    fs.writeFileSync(path.join(config, 'config.json'), JSON.stringify({ auths: {}, currentContext: name }));
    fs.writeFileSync(path.join(meta, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: remote.host, SkipTLSVerify: false } } }));
    const fromContext = resolveDockerTarget({ DOCKER_CONFIG: config });
    expect(fromContext).toMatchObject({ address: remote.host, source: `docker context "${name}"`, isDefault: false });
    const backend = await DockerBackend.connect({ target: fromContext });
    try {
      expect(backend.suggestedWorkers).toBe(ncpu);
      const pool = await SandboxPool.create(backend, { size: 1 });
      try {
        const ran = await pool.run({ program: 'import os\ndef cpus():\n    return os.cpu_count()\n', tests: ['assert cpus() >= 1'] });
        expect(ran).toMatchObject({ status: 'passed', backend: 'docker' });
        // The worker is a container on the second daemon, labelled with this machine.
        const mine = await remote.docker.listContainers({ filters: { label: [`${LABEL_SESSION}=${backend.sessionId}`] } });
        expect(mine).toHaveLength(1);
        expect(mine[0]?.Labels[LABEL_MACHINE]).toBe(machineLabel());
      } finally {
        await pool.dispose();
      }
    } finally {
      await backend.dispose();
    }
    // DOCKER_CONTEXT names a context that does not exist: a clear error, not the local daemon.
    expect(() => resolveDockerTarget({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'nope' })).toThrow(/docker context "nope" is selected but .*meta\.json does not exist/);
  }, 60_000);

  it('the reaper removes only this machine\'s leftovers on the host it talks to, never another machine\'s', async () => {
    const make = async (labels: Record<string, string>): Promise<string> => (await remote.docker.createContainer({
      Image: DEFAULT_SANDBOX_IMAGE, Cmd: ['/usr/bin/python3', '-c', 'pass'], NetworkDisabled: true, HostConfig: { NetworkMode: 'none' },
      Labels: { [LABEL_APP]: 'ilf-studio', ...labels },
    })).id;
    const deadPid = 2 ** 22 + 1; // above pid_max's ceiling: no process has it
    const oursStopped = await make({ [LABEL_SESSION]: 'old-session', [LABEL_PID]: String(deadPid), [LABEL_HOST]: 'whatever', [LABEL_MACHINE]: machineLabel() });
    const otherMachine = await make({ [LABEL_SESSION]: 'their-session', [LABEL_PID]: String(deadPid), [LABEL_HOST]: 'lab-laptop', [LABEL_MACHINE]: 'another-machine' });
    const unrelated = (await remote.docker.createContainer({ Image: DEFAULT_SANDBOX_IMAGE, Cmd: ['/usr/bin/python3', '-c', 'pass'], HostConfig: { NetworkMode: 'none' } })).id;
    const backend = await DockerBackend.connect({ target }); // connecting reaps
    try {
      const left = new Set((await remote.docker.listContainers({ all: true })).map((c) => c.Id));
      expect(left.has(oursStopped)).toBe(false);
      expect(left.has(otherMachine)).toBe(true);
      expect(left.has(unrelated)).toBe(true);
    } finally {
      await backend.dispose();
      for (const id of [otherMachine, unrelated]) await remote.docker.getContainer(id).remove({ force: true });
    }
  }, 60_000);

  it('loads a bundled image tarball when no daemon it can reach has the image, and says so when a tarball lacks it', async () => {
    // A tiny image made locally and saved as the app would bundle it (`docker save`).
    const rootfs = path.join(work, 'rootfs.tar');
    const marker = path.join(work, 'marker');
    fs.writeFileSync(marker, 'tiny\n');
    execFileSync('tar', ['-cf', rootfs, '-C', work, 'marker']);
    execFileSync('docker', ['import', rootfs, TINY], { stdio: 'ignore', timeout: 60_000 });
    const tarball = path.join(work, 'sandbox-image.tar');
    execFileSync('docker', ['save', '-o', tarball, TINY], { timeout: 60_000 });
    const unreachable = resolveDockerTarget({ DOCKER_HOST: 'tcp://127.0.0.1:1' });
    const lines: string[] = [];
    const how = await ensureSandboxImage(remote.docker, target, TINY, { source: unreachable, tarballs: [tarball], onProgress: (m, milestone) => { if (milestone) lines.push(m); } });
    expect(how).toBe('bundled');
    expect(await hasImage(remote.docker, TINY)).toBe(true);
    expect(lines[0]).toContain(`loading the bundled sandbox image ${tarball}`);
    expect(await ensureSandboxImage(remote.docker, target, TINY, { source: unreachable, tarballs: [tarball] })).toBe('present');

    await expect(ensureSandboxImage(remote.docker, target, 'ilf-test-absent:1', { source: unreachable, tarballs: [tarball] }))
      .rejects.toThrow(`${tarball} does not contain the image ilf-test-absent:1`);
    await expect(ensureSandboxImage(remote.docker, target, 'ilf-test-absent:1', { source: unreachable, tarballs: [path.join(work, 'none.tar')] }))
      .rejects.toThrow(/is not in Docker at tcp:\/\/127\.0\.0\.1:\d+ and could not be shipped there \(tcp:\/\/127\.0\.0\.1:1: unreachable/);
  }, 120_000);

  it('an unreachable DOCKER_HOST is a clear error naming the address, not a hang', async () => {
    const dir = path.join(work, 'unreachable');
    await ilf(['--data-dir', dir, 'import', sharedData('mbpp.jsonl'), '--format', 'mbpp']);
    const started = Date.now();
    const r = await ilf(['--data-dir', dir, 'exec-gold', '--dataset', 'mbpp', '--backend', 'docker'], { DOCKER_HOST: 'tcp://127.0.0.1:1' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot reach the Docker daemon at tcp:\/\/127\.0\.0\.1:1 \(DOCKER_HOST\)/);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});
