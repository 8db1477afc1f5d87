#!/usr/bin/env node
// `npm run build:sandbox-image`: saves the sandbox image from the local Docker daemon into
// resources/sandbox-image.tar, which electron-builder ships (extraResources) and
// main/sandbox/docker-image.ts loads into a daemon that lacks the image (Docker Desktop on
// Windows/macOS, where no locally built image exists). Run it on Linux after `sudo bash .ci/setup-docker`.
// ILF_SANDBOX_IMAGE picks another tag. Written through a temporary file: never a half-written tarball.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const image = process.env.ILF_SANDBOX_IMAGE || 'ilf-sandbox-python:bookworm';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(root, 'resources', 'sandbox-image.tar');
const partial = `${out}.partial-${process.pid}`;
try {
  execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
} catch {
  console.error(`save-sandbox-image: the local Docker daemon has no ${image}; build it first: sudo bash .ci/setup-docker`);
  process.exit(1);
}
fs.mkdirSync(path.dirname(out), { recursive: true });
try {
  execFileSync('docker', ['save', '-o', partial, image], { stdio: 'inherit' });
  fs.renameSync(partial, out);
} catch (e) {
  fs.rmSync(partial, { force: true });
  console.error(`save-sandbox-image: docker save failed: ${e.message}`);
  process.exit(1);
}
console.log(`wrote ${out} (${(fs.statSync(out).size / 1e6).toFixed(1)} MB): ${image}`);
