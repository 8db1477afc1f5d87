// Builds the LoRA trainer (native-models/trainer/trainer.cpp) against the prebuilt llama.cpp fork in
// @qvac/fabric, into native-models/bin/<platform>-<arch>/ next to the runtime it links (the fork's
// library under the name its SONAME asks for, and its ggml backends). Part of `npm run build`;
// skips work when the binary is newer than its source. No manual steps.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const platform = `${process.platform}-${process.arch}`;
const source = path.join(root, 'native-models', 'trainer', 'trainer.cpp');
const outDir = path.join(root, 'native-models', 'bin', platform);
const exe = path.join(outDir, process.platform === 'win32' ? 'ilf-trainer.exe' : 'ilf-trainer');

function fail(message, hint) {
  console.error(`build-trainer: ${message}${hint ? `\n  → ${hint}` : ''}`);
  process.exit(1);
}

const fabric = path.dirname(require.resolve('@qvac/fabric/package'));
const prebuilds = path.join(fabric, 'prebuilds');
const include = path.join(prebuilds, 'include');
const libDir = path.join(prebuilds, platform);
const library = path.join(libDir, 'qvac__fabric.bare');
if (!fs.existsSync(library)) fail(`@qvac/fabric has no prebuilt library for ${platform}`, 'train on linux-x64, linux-arm64 or macOS');
if (process.platform === 'win32') {
  fail('building the trainer on Windows is not supported yet (the fork ships no import library to link against)', 'train on Linux or macOS');
}

/** Hard links cost nothing; copies are the fallback across file systems. Either way no symlink leaves the folder. */
function place(from, to) {
  if (fs.existsSync(to) && fs.statSync(to).size === fs.statSync(from).size) return;
  fs.rmSync(to, { force: true });
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

fs.mkdirSync(outDir, { recursive: true });
// The library's SONAME is qvac__fabric@0.bare: the loader looks for that name beside the trainer.
const soname = process.platform === 'linux' ? 'qvac__fabric@0.bare' : 'qvac__fabric.bare';
place(library, path.join(outDir, soname));
const backends = path.join(libDir, 'qvac__fabric');
if (fs.existsSync(backends)) {
  fs.mkdirSync(path.join(outDir, 'qvac__fabric'), { recursive: true });
  for (const f of fs.readdirSync(backends)) place(path.join(backends, f), path.join(outDir, 'qvac__fabric', f));
}

// trainer.cpp and the headers beside it.
const sources = fs.readdirSync(path.dirname(source)).map((f) => path.join(path.dirname(source), f));
const upToDate = fs.existsSync(exe) && fs.statSync(exe).mtimeMs > Math.max(...sources.map((f) => fs.statSync(f).mtimeMs), fs.statSync(library).mtimeMs);
if (upToDate && !process.argv.includes('--force')) process.exit(0);

const compiler = process.env.CXX ?? (process.platform === 'darwin' ? 'clang++' : 'g++');
const args = [
  '-std=c++17', '-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-missing-field-initializers',
  '-I', include, '-I', path.join(include, 'llama'),
  source, '-o', `${exe}.tmp`,
  ...(process.platform === 'darwin'
    ? [path.join(outDir, soname), '-Wl,-rpath,@loader_path']
    : ['-L', outDir, `-l:${soname}`, '-Wl,-rpath,$ORIGIN', '-pthread']),
];
console.error(`build-trainer: compiling ${path.relative(root, exe)}`);
try {
  execFileSync(compiler, args, { stdio: 'inherit' });
} catch (e) {
  fail(`${compiler} failed (${e.message.split('\n')[0]})`, 'install a C++17 compiler (Debian: apt-get install g++) and run `npm run build:trainer`');
}
fs.renameSync(`${exe}.tmp`, exe);
