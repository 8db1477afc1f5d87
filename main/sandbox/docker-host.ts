import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { AppError } from '../errors.js';
import { dockerSocketPath } from './docker-desktop.js';

/** Where the Docker daemon we talk to is, and how to reach it (dockerode's options). */
export interface DockerTarget {
  options: Docker.DockerOptions;
  /** The address as a person would write it: unix:///var/run/docker.sock, tcp://host:2376, … */
  address: string;
  /** Where the address came from: DOCKER_HOST, a docker context, or the platform default. */
  source: string;
  /** True for the platform's default socket: the daemon on this machine. */
  isDefault: boolean;
}

const DEFAULT_ADDRESS = process.platform === 'win32' ? 'npipe:////./pipe/docker_engine' : 'unix:///var/run/docker.sock';

const CONTEXT_HINT = 'list contexts with `docker context ls` and pick one with `docker context use NAME`, or set DOCKER_HOST';

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('SANDBOX_UNAVAILABLE', `cannot read ${what} ${file}: ${(e as Error).message}`, CONTEXT_HINT);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError('SANDBOX_UNAVAILABLE', `${what} ${file} is not valid JSON`, CONTEXT_HINT);
  }
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {};
}

interface TlsFiles { ca?: Buffer; cert?: Buffer; key?: Buffer }

/** ca.pem, cert.pem and key.pem from a directory, those that exist. */
function tlsFiles(dir: string): TlsFiles {
  const read = (name: string): Buffer | undefined => {
    const file = path.join(dir, name);
    return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
  };
  const files: TlsFiles = {};
  const ca = read('ca.pem');
  const cert = read('cert.pem');
  const key = read('key.pem');
  if (ca) files.ca = ca;
  if (cert) files.cert = cert;
  if (key) files.key = key;
  return files;
}

/**
 * Turns a Docker address into dockerode options. `tls` given → https with those files (and
 * certificate checks unless `skipVerify`); tcp without TLS → plain http, as the docker CLI does.
 */
export function dockerOptions(address: string, tls: (TlsFiles & { skipVerify?: boolean }) | undefined): Docker.DockerOptions {
  if (address.startsWith('unix://')) return { socketPath: address.slice('unix://'.length) || '/var/run/docker.sock' };
  if (address.startsWith('npipe://')) return { socketPath: address.slice('npipe://'.length) || '//./pipe/docker_engine' };
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new AppError('SANDBOX_UNAVAILABLE', `the Docker address "${address}" is not one we understand`,
      'use unix:///path/docker.sock, tcp://HOST:PORT, ssh://USER@HOST or npipe:////./pipe/NAME');
  }
  if (url.protocol === 'ssh:') {
    return {
      protocol: 'ssh', host: url.hostname, port: url.port ? Number(url.port) : 22,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      sshOptions: process.env.SSH_AUTH_SOCK ? { agent: process.env.SSH_AUTH_SOCK } : {},
    };
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('SANDBOX_UNAVAILABLE', `the Docker address "${address}" uses ${url.protocol}, which we cannot speak`,
      'use unix://, tcp://, ssh:// or npipe://');
  }
  const secure = tls !== undefined || url.protocol === 'https:';
  const port = url.port ? Number(url.port) : secure ? 2376 : 2375;
  const options: Docker.DockerOptions = { protocol: secure ? 'https' : 'http', host: url.hostname, port };
  if (tls?.ca) options.ca = tls.ca;
  if (tls?.cert) options.cert = tls.cert;
  if (tls?.key) options.key = tls.key;
  // dockerode passes unknown options through to https.request; the docker CLI's SkipTLSVerify.
  if (tls?.skipVerify) Object.assign(options, { rejectUnauthorized: false });
  return options;
}

/** The docker CLI's config folder: DOCKER_CONFIG, else ~/.docker. */
function configDir(env: NodeJS.ProcessEnv, home: string): string {
  return env.DOCKER_CONFIG || path.join(home, '.docker');
}

/**
 * The daemon the docker CLI would talk to, by the CLI's own precedence: DOCKER_HOST (with
 * DOCKER_TLS_VERIFY / DOCKER_CERT_PATH), then the context named by DOCKER_CONTEXT, then config.json's
 * currentContext (its endpoint in contexts/meta/<sha256(name)>/meta.json, its TLS files in
 * contexts/tls/<sha256(name)>/docker/), then the platform's default socket.
 */
export function resolveDockerTarget(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): DockerTarget {
  const dir = configDir(env, home);
  if (env.DOCKER_HOST) {
    const verify = env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '' && env.DOCKER_TLS_VERIFY !== '0';
    const certDir = env.DOCKER_CERT_PATH || dir;
    const tls = verify || env.DOCKER_TLS === '1' ? { ...tlsFiles(certDir), skipVerify: !verify } : undefined;
    if (verify && (!tls?.ca || !tls.cert || !tls.key)) {
      throw new AppError('SANDBOX_UNAVAILABLE', `DOCKER_TLS_VERIFY is set but ${certDir} lacks ca.pem, cert.pem or key.pem`,
        'set DOCKER_CERT_PATH to the folder with the client certificates the daemon trusts');
    }
    return { options: dockerOptions(env.DOCKER_HOST, tls), address: env.DOCKER_HOST, source: 'DOCKER_HOST', isDefault: false };
  }
  const name = env.DOCKER_CONTEXT || stringField(record(readJson(path.join(dir, 'config.json'), 'the docker config')), 'currentContext');
  if (name && name !== 'default') {
    const id = createHash('sha256').update(name).digest('hex');
    const metaFile = path.join(dir, 'contexts', 'meta', id, 'meta.json');
    const meta = readJson(metaFile, `docker context "${name}"`);
    if (meta === undefined) {
      throw new AppError('SANDBOX_UNAVAILABLE', `docker context "${name}" is selected but ${metaFile} does not exist`, CONTEXT_HINT);
    }
    const endpoint = record(record(record(meta).Endpoints).docker);
    const host = stringField(endpoint, 'Host');
    if (!host) throw new AppError('SANDBOX_UNAVAILABLE', `docker context "${name}" has no Docker endpoint (Endpoints.docker.Host in ${metaFile})`, CONTEXT_HINT);
    const tlsDir = path.join(dir, 'contexts', 'tls', id, 'docker');
    const files = fs.existsSync(tlsDir) ? tlsFiles(tlsDir) : {};
    const skipVerify = endpoint.SkipTLSVerify === true;
    const tls = files.ca || files.cert || skipVerify ? { ...files, skipVerify } : undefined;
    return { options: dockerOptions(host, tls), address: host, source: `docker context "${name}"`, isDefault: false };
  }
  return defaultDockerTarget();
}

/**
 * The platform's default local daemon (where a locally built sandbox image lives): Docker Desktop's
 * per-user socket on macOS when /var/run/docker.sock is absent (see dockerSocketPath).
 */
export function defaultDockerTarget(): DockerTarget {
  const desktop = dockerSocketPath();
  const address = desktop ? `unix://${desktop}` : DEFAULT_ADDRESS;
  return { options: dockerOptions(address, undefined), address, source: 'the default socket', isDefault: true };
}

function stringField(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * A dockerode client for `target` and nothing else: docker-modem merges DOCKER_HOST and
 * DOCKER_CERT_PATH from the environment under the options it is given (and DOCKER_HOST's host wins
 * over a socketPath), so every field it would take from there is set here, if only to undefined.
 */
export function openDocker(target: DockerTarget): Docker {
  const neutral = { host: undefined, port: undefined, socketPath: undefined, ca: undefined, cert: undefined, key: undefined, protocol: undefined, pathPrefix: undefined, timeout: undefined };
  return new Docker(Object.assign(neutral, target.options));
}
