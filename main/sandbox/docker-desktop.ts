import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../errors.js';

/**
 * Docker on the desktops without bubblewrap. macOS and Windows run the sandbox in Docker Desktop's
 * Linux VM; this finds its daemon where dockerode would not look, and when Docker cannot be reached
 * says whether Docker Desktop is missing or only stopped, and what to do about either.
 */

/** What is looked at, so each OS's answer can be checked on any OS. */
export interface DockerHost {
  platform: NodeJS.Platform;
  home: string;
  env: NodeJS.ProcessEnv;
  exists: (file: string) => boolean;
}

export const thisHost = (): DockerHost => ({ platform: process.platform, home: os.homedir(), env: process.env, exists: (f) => fs.existsSync(f) });

export const DOCKER_DESKTOP_DOWNLOAD = {
  darwin: 'https://docs.docker.com/desktop/setup/install/mac-install/',
  win32: 'https://docs.docker.com/desktop/setup/install/windows-install/',
} as const;

/** Where Docker Desktop's app is installed, or null. */
export function dockerDesktopApp(host: DockerHost = thisHost()): string | null {
  const candidates = host.platform === 'darwin'
    ? ['/Applications/Docker.app', path.join(host.home, 'Applications', 'Docker.app')]
    : host.platform === 'win32'
      ? [host.env.ProgramFiles ?? 'C:\\Program Files', host.env.LOCALAPPDATA].filter((d): d is string => d !== undefined)
        .map((d) => path.win32.join(d, 'Docker', 'Docker', 'Docker Desktop.exe'))
      : [];
  return candidates.find((c) => host.exists(c)) ?? null;
}

/**
 * The daemon's socket when dockerode's default would miss it: Docker Desktop on macOS listens on
 * ~/.docker/run/docker.sock and links /var/run/docker.sock to it only when allowed to (an admin
 * setting). Undefined: use dockerode's default (DOCKER_HOST, /var/run/docker.sock, or Windows' pipe
 * //./pipe/docker_engine, which Docker Desktop serves in its default Linux-containers mode).
 */
export function dockerSocketPath(host: DockerHost = thisHost()): string | undefined {
  if (host.env.DOCKER_HOST || host.platform !== 'darwin' || host.exists('/var/run/docker.sock')) return undefined;
  const desktop = path.join(host.home, '.docker', 'run', 'docker.sock');
  return host.exists(desktop) ? desktop : undefined;
}

/** Where the daemon was looked for, for the error. */
export function dockerEndpoint(host: DockerHost = thisHost()): string {
  return host.env.DOCKER_HOST ?? dockerSocketPath(host) ?? (host.platform === 'win32' ? '//./pipe/docker_engine' : '/var/run/docker.sock');
}

/** What to do when the daemon cannot be reached: install Docker (Desktop), or start it. */
export function dockerUnreachableHint(host: DockerHost = thisHost()): string {
  if (host.platform === 'darwin' || host.platform === 'win32') {
    const os = host.platform === 'darwin' ? 'macOS' : 'Windows';
    const app = dockerDesktopApp(host);
    if (app) {
      const start = host.platform === 'darwin' ? 'run `open -a Docker`' : 'start "Docker Desktop" from the Start menu';
      return `Docker Desktop is installed (${app}) but its engine is not running: ${start}, wait until it shows "Engine running", then try again` +
        (host.platform === 'win32' ? ' (it must run Linux containers, its default)' : '');
    }
    const get = host.platform === 'darwin'
      ? `${DOCKER_DESKTOP_DOWNLOAD.darwin} (or \`brew install --cask docker\`)`
      : `${DOCKER_DESKTOP_DOWNLOAD.win32} (or \`winget install -e --id Docker.DockerDesktop\`)`;
    return `on ${os} the sandbox runs programs in Docker (bubblewrap is Linux-only), and Docker Desktop is not installed: ` +
      `get it from ${get}, start it, then try again`;
  }
  return 'start Docker (`sudo systemctl start docker`; install it with `sudo apt-get install docker.io`), or use --backend bwrap';
}

/** The error for a daemon that did not answer. */
export function dockerUnreachable(cause: unknown, host: DockerHost = thisHost()): AppError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new AppError('SANDBOX_UNAVAILABLE', `cannot reach the Docker daemon at ${dockerEndpoint(host)} (${reason})`, dockerUnreachableHint(host));
}
