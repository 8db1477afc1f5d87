import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerDesktopApp, dockerEndpoint, dockerSocketPath, dockerUnreachable, dockerUnreachableHint, type DockerHost } from '../../main/sandbox/docker-desktop.js';
import { tempDir } from '../helpers/fs.js';

/**
 * Each OS's answer, checked here: a host whose file system is a real folder standing in for the
 * macOS or Windows root (the only stand-in: this machine is Linux).
 */
function host(platform: NodeJS.Platform, files: string[] = [], env: NodeJS.ProcessEnv = {}): DockerHost {
  const root = tempDir('ilf-docker-host-');
  const inRoot = (f: string): string => path.join(root, f.replace(/^[A-Za-z]:/, '').replaceAll('\\', '/'));
  for (const f of files) {
    fs.mkdirSync(path.dirname(inRoot(f)), { recursive: true });
    fs.writeFileSync(inRoot(f), '');
  }
  const home = platform === 'win32' ? 'C:\\Users\\ada' : platform === 'darwin' ? '/Users/ada' : '/home/ada';
  return { platform, home, env, exists: (f) => fs.existsSync(inRoot(f)) };
}

describe('Docker Desktop off Linux', () => {
  it('macOS without Docker Desktop: says it is needed, where to get it, and that bubblewrap is Linux-only', () => {
    const hint = dockerUnreachableHint(host('darwin'));
    expect(hint).toMatch(/Docker Desktop is not installed/);
    expect(hint).toContain('https://docs.docker.com/desktop/setup/install/mac-install/');
    expect(hint).toContain('brew install --cask docker');
    expect(hint).toMatch(/bubblewrap is Linux-only/);
  });

  it('macOS with Docker Desktop stopped: says to start it; its per-user socket is used when /var/run has none', () => {
    const mac = host('darwin', ['/Applications/Docker.app', '/Users/ada/.docker/run/docker.sock']);
    expect(dockerDesktopApp(mac)).toBe('/Applications/Docker.app');
    expect(dockerUnreachableHint(mac)).toMatch(/installed \(\/Applications\/Docker\.app\) but its engine is not running: run `open -a Docker`/);
    expect(dockerSocketPath(mac)).toBe('/Users/ada/.docker/run/docker.sock');
    expect(dockerEndpoint(mac)).toBe('/Users/ada/.docker/run/docker.sock');
    // The system socket, when Docker Desktop was allowed to make it, or DOCKER_HOST, win.
    expect(dockerSocketPath(host('darwin', ['/var/run/docker.sock', '/Users/ada/.docker/run/docker.sock']))).toBeUndefined();
    expect(dockerSocketPath(host('darwin', ['/Users/ada/.docker/run/docker.sock'], { DOCKER_HOST: 'tcp://10.0.0.2:2375' }))).toBeUndefined();
  });

  it('Windows: missing (download link and winget), installed but stopped (Start menu, Linux containers); the named pipe', () => {
    const missing = dockerUnreachableHint(host('win32', [], { ProgramFiles: 'C:\\Program Files' }));
    expect(missing).toContain('https://docs.docker.com/desktop/setup/install/windows-install/');
    expect(missing).toContain('winget install -e --id Docker.DockerDesktop');
    const installed = host('win32', ['C:\\Program Files\\Docker\\Docker\\Docker Desktop.exe'], { ProgramFiles: 'C:\\Program Files' });
    expect(dockerDesktopApp(installed)).toBe('C:\\Program Files\\Docker\\Docker\\Docker Desktop.exe');
    expect(dockerUnreachableHint(installed)).toMatch(/start "Docker Desktop" from the Start menu.*Linux containers/);
    expect(dockerEndpoint(installed)).toBe('//./pipe/docker_engine');
  });

  it('Linux keeps its own advice, and the error names the endpoint and the cause', () => {
    const linux = host('linux');
    expect(dockerUnreachableHint(linux)).toMatch(/systemctl start docker.*--backend bwrap/);
    const e = dockerUnreachable(new Error('connect ENOENT /var/run/docker.sock'), linux);
    expect(e.code).toBe('SANDBOX_UNAVAILABLE');
    expect(e.message).toBe('cannot reach the Docker daemon at /var/run/docker.sock (connect ENOENT /var/run/docker.sock)');
  });
});
