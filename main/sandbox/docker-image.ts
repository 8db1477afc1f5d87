import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { packageDir } from '../config/version.js';
import { AppError } from '../errors.js';
import { defaultDockerTarget, openDocker, type DockerTarget } from './docker-host.js';

/** The bundled sandbox image's file name: `npm run build:sandbox-image` writes it, electron-builder ships it in resources/. */
export const SANDBOX_IMAGE_TARBALL = 'sandbox-image.tar';

const PING_TIMEOUT_MS = 5000;

/**
 * Where a bundled image tarball may be: $ILF_SANDBOX_IMAGE_TAR, the packaged app's resources
 * folder, then resources/ in the source tree.
 */
export function bundledImageCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const resources = (process as NodeJS.Process & { resourcesPath?: string }).resourcesPath;
  return [
    env.ILF_SANDBOX_IMAGE_TAR,
    resources ? path.join(resources, SANDBOX_IMAGE_TARBALL) : undefined,
    path.join(packageDir(), 'resources', SANDBOX_IMAGE_TARBALL),
  ].filter((c): c is string => c !== undefined && c !== '');
}

function statusCode(e: unknown): number | undefined {
  const code = (e as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

export async function hasImage(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (e) {
    if (statusCode(e) === 404) return false;
    throw e;
  }
}

/** Rejects when `promise` has not settled within `ms` (a remote daemon that drops packets never answers). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms); }),
  ]);
}

/** Counts bytes on their way through, for progress lines. */
function counter(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      onBytes(total);
      done(null, chunk);
    },
  });
}

/** Feeds an image archive to the daemon's /images/load and waits for its verdict (errors come in the JSON stream, not the status). */
async function loadInto(target: Docker, archive: Readable, onBytes: (total: number) => void): Promise<void> {
  const body = archive.pipe(counter(onBytes));
  archive.on('error', (e) => body.destroy(e));
  const response = await target.loadImage(body, { quiet: true });
  await new Promise<void>((resolve, reject) => {
    target.modem.followProgress(response, (err: Error | null, events: unknown[]) => {
      if (err) return reject(err);
      const failed = events.map((ev) => (ev as { error?: unknown; errorDetail?: { message?: unknown } }))
        .find((ev) => ev.error !== undefined || ev.errorDetail !== undefined);
      if (failed) return reject(new Error(String(failed.errorDetail?.message ?? failed.error)));
      resolve();
    });
  });
}

export interface ShipOptions {
  /** Lines for a person: milestones (what is shipped where, done) and byte counts in between (milestone false). */
  onProgress?: (message: string, milestone: boolean) => void;
  /** The daemon to copy the image from when the target lacks it; default: the platform's default socket. */
  source?: DockerTarget;
  env?: NodeJS.ProcessEnv;
  /** Where to look for a bundled image tarball; default bundledImageCandidates(env). */
  tarballs?: readonly string[];
}

function megabytes(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/**
 * Makes sure `image` is on the daemon at `target`. When it is missing there, copies it through
 * the API: `docker save` from a different daemon that has it (the local one, when the target is a
 * remote host), else `docker load` from a bundled image tarball (Docker Desktop on Windows/macOS,
 * where no local daemon holds the image). Returns how it got there.
 */
export async function ensureSandboxImage(docker: Docker, target: DockerTarget, image: string, options: ShipOptions = {}):
Promise<'present' | 'copied' | 'bundled'> {
  if (await hasImage(docker, image)) return 'present';
  const progress = options.onProgress ?? (() => undefined);
  const tried: string[] = [];

  const source = options.source ?? defaultDockerTarget();
  if (source.address !== target.address) {
    const from = openDocker(source);
    const usable = await withTimeout((async () => {
      // Two daemons on one machine share the ID (it comes from /etc/docker/key.json): their data roots tell them apart.
      const identity = async (d: Docker): Promise<string> => {
        const info = (await d.info()) as { ID?: unknown; Name?: unknown; DockerRootDir?: unknown };
        return JSON.stringify([info.ID, info.Name, info.DockerRootDir]);
      };
      const [there, here] = await Promise.all([identity(from), identity(docker)]);
      if (there === here) return 'it is the same daemon';
      return (await hasImage(from, image)) ? null : `it does not have ${image} either`;
    })(), PING_TIMEOUT_MS, `the Docker daemon at ${source.address}`).catch((e: unknown) => `unreachable (${(e as Error).message})`);
    if (usable === null) {
      progress(`copying the sandbox image ${image} from ${source.address} to ${target.address}…`, true);
      try {
        const archive = (await from.getImage(image).get()) as Readable;
        await loadInto(docker, archive, (n) => progress(`copying the sandbox image ${image} to ${target.address}: ${megabytes(n)}`, false));
      } catch (e) {
        throw new AppError('SANDBOX_UNAVAILABLE', `copying the sandbox image ${image} from ${source.address} to ${target.address} failed: ${(e as Error).message}`,
          `check the disk space on the Docker host, or copy it by hand: \`docker save ${image} | docker -H ${target.address} load\``);
      }
      if (!(await hasImage(docker, image))) {
        throw new AppError('SANDBOX_UNAVAILABLE', `the Docker daemon at ${target.address} loaded the archive but has no ${image} afterwards`,
          `copy it by hand: \`docker save ${image} | docker -H ${target.address} load\``);
      }
      progress(`the sandbox image ${image} is now on ${target.address}`, true);
      return 'copied';
    }
    tried.push(`${source.address}: ${usable}`);
  }

  const candidates = options.tarballs ?? bundledImageCandidates(options.env);
  const tarball = candidates.find((f) => fs.existsSync(f));
  if (tarball) {
    const size = fs.statSync(tarball).size;
    progress(`loading the bundled sandbox image ${tarball} (${megabytes(size)}) into ${target.address}…`, true);
    try {
      await loadInto(docker, fs.createReadStream(tarball), (n) =>
        progress(`loading the sandbox image into ${target.address}: ${megabytes(n)} of ${megabytes(size)}`, false));
    } catch (e) {
      throw new AppError('SANDBOX_UNAVAILABLE', `loading ${tarball} into the Docker daemon at ${target.address} failed: ${(e as Error).message}`,
        `check the disk space Docker may use, or load it by hand: \`docker load -i "${tarball}"\``);
    }
    if (!(await hasImage(docker, image))) {
      throw new AppError('SANDBOX_UNAVAILABLE', `${tarball} does not contain the image ${image}`,
        `rebuild it with \`npm run build:sandbox-image\`, or set ILF_SANDBOX_IMAGE to the tag it holds`);
    }
    progress(`the sandbox image ${image} is now on ${target.address}`, true);
    return 'bundled';
  }
  tried.push(`no bundled image (looked for ${candidates.join(', ')})`);
  throw new AppError('SANDBOX_UNAVAILABLE', `the sandbox image ${image} is not in Docker at ${target.address} and could not be shipped there (${tried.join('; ')})`,
    'build it offline with `sudo bash .ci/setup-docker` (debootstrap + docker import), and `npm run build:sandbox-image` to bundle it; ' +
    `copy it from a machine that has it: \`docker save ${image} | docker -H ${target.address} load\`, or load a saved image with \`docker load -i FILE.tar\`; ` +
    'where a registry is reachable, `docker pull python:3.11-slim` and set ILF_SANDBOX_IMAGE=python:3.11-slim');
}
