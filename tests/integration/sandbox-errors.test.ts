import { spawnSync } from 'node:child_process';
import os from 'node:os';
import Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../main/errors.js';
import { BwrapBackend } from '../../main/sandbox/bwrap.js';
import { DEFAULT_SANDBOX_IMAGE, DockerBackend, LABEL_APP, LABEL_HOST, LABEL_PID, LABEL_SESSION } from '../../main/sandbox/docker.js';
import { openBackend } from '../../main/sandbox/select.js';
import { backendCases } from '../helpers/sandbox.js';

async function failure(p: Promise<unknown>): Promise<AppError> {
  const e: unknown = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
}

const savedPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = savedPath;
});

describe('when a sandbox cannot run, the error says what to do (and nothing runs unsandboxed)', () => {
  it('no Docker daemon', async () => {
    const e = await failure(DockerBackend.connect({ docker: new Docker({ socketPath: '/tmp/ilf-no-docker-here.sock' }) }));
    expect(e.code).toBe('SANDBOX_UNAVAILABLE');
    expect(e.message).toMatch(/cannot reach the Docker daemon/);
    expect(e.hint).toMatch(/start Docker|--backend bwrap/);
  });

  it('no bubblewrap on PATH', async () => {
    process.env.PATH = '/nonexistent';
    const e = await failure(BwrapBackend.detect());
    expect(e.message).toMatch(/bubblewrap \(bwrap\) is not installed/);
    expect(e.hint).toMatch(/apt-get install bubblewrap/);
  });

  it('no Python for bubblewrap to bind', async () => {
    const e = await failure(BwrapBackend.detect('/nonexistent/python3'));
    expect(e.message).toMatch(/\/nonexistent\/python3 does not exist/);
  });

  it('neither backend: auto names what to install', async () => {
    process.env.PATH = '/nonexistent';
    process.env.DOCKER_HOST = 'unix:///tmp/ilf-no-docker-here.sock';
    try {
      const e = await failure(openBackend('auto'));
      expect(e.message).toMatch(/no sandbox can run programs here \(bwrap: .*; docker: .*\)/);
      expect(e.hint).toMatch(/install bubblewrap/);
    } finally {
      delete process.env.DOCKER_HOST;
    }
  });
});

const docker = (await backendCases()).find((c) => c.name === 'docker');

describe.skipIf(!docker?.available)(`Docker housekeeping${docker?.available ? '' : ` (not here: ${docker?.reason ?? ''})`}`, () => {
  it('a missing image gets the offline and online ways to get one', async () => {
    const e = await failure(DockerBackend.connect({ image: 'ilf-no-such-image:never' }));
    expect(e.message).toMatch(/the sandbox image ilf-no-such-image:never is not in Docker/);
    expect(e.hint).toMatch(/setup-docker/);
    expect(e.hint).toMatch(/docker pull/);
    expect(e.hint).toMatch(/docker load/);
  });

  it("removes a dead session's leftover containers when it connects, and leaves a live one's alone", async () => {
    const api = new Docker();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(dead.stdout.toString());
    const leftover = (session: string, pid: number) => api.createContainer({
      Image: process.env.ILF_SANDBOX_IMAGE ?? DEFAULT_SANDBOX_IMAGE,
      Cmd: ['/usr/bin/python3', '-c', 'import time; time.sleep(600)'],
      Labels: { [LABEL_APP]: 'ilf-studio', [LABEL_SESSION]: session, [LABEL_PID]: String(pid), [LABEL_HOST]: os.hostname() },
      HostConfig: { NetworkMode: 'none' },
    });
    const crashed = await leftover('crashed-session', deadPid);
    const live = await leftover('live-session', process.pid);
    await crashed.start();
    await live.start();
    try {
      const backend = await DockerBackend.connect();
      const sessions = (await api.listContainers({ all: true, filters: { label: [`${LABEL_APP}=ilf-studio`] } })).map((c) => c.Labels[LABEL_SESSION]);
      expect(sessions).not.toContain('crashed-session');
      expect(sessions).toContain('live-session');
      await backend.dispose();
    } finally {
      await live.remove({ force: true });
      await crashed.remove({ force: true }).catch(() => undefined);
    }
  });
});
