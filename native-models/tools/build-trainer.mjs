// Builds the LoRA trainer (native-models/trainer/trainer.cpp) against the prebuilt llama.cpp fork in
// @qvac/fabric, into native-models/bin/<platform>-<arch>/ next to the runtime it uses (the fork's
// library under the name its loader asks for, and its ggml backends). Part of `npm run build`;
// skips work when the binary is newer than its sources. No manual steps.
//
//   npm run build:trainer                          this machine's platform
//   npm run build:trainer -- --target win32-x64    cross-compile ilf-trainer.exe with mingw-w64 (Linux)
//   npm run build:trainer -- --force               rebuild even when up to date
//
// Windows (native or cross): the fork ships a DLL but no import library that links, so the trainer
// loads it with LoadLibrary/GetProcAddress (fabric-dl.h/.cpp); this script generates the list of
// functions to resolve from the trainer's sources. The C++ runtime is linked statically (mingw
// -static, MSVC /MT): the exe needs nothing beside it but the fork's DLL.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const host = `${process.platform}-${process.arch}`;

function fail(message, hint) {
  console.error(`build-trainer: ${message}${hint ? `\n  → ${hint}` : ''}`);
  process.exit(1);
}

function targetArg() {
  const i = process.argv.findIndex((a) => a === '--target' || a.startsWith('--target='));
  if (i < 0) return host;
  const value = process.argv[i].includes('=') ? process.argv[i].slice('--target='.length) : process.argv[i + 1];
  if (!value || value.startsWith('--')) fail('--target needs a value', 'e.g. `npm run build:trainer -- --target win32-x64`');
  return value;
}

const target = targetArg();
const windows = target.startsWith('win32-');
if (target !== host && target !== 'win32-x64') {
  fail(`cannot build the trainer for ${target} on ${host}`, 'cross-compiling works only for win32-x64 (mingw-w64); build other platforms on the platform itself');
}

const trainerDir = path.join(root, 'native-models', 'trainer');
const sources = [path.join(trainerDir, 'trainer.cpp'), ...(windows ? [path.join(trainerDir, 'fabric-dl.cpp')] : [])];
// Every header beside trainer.cpp (fabric-dl.h is included only on Windows; the rest everywhere).
const headers = fs.readdirSync(trainerDir).filter((f) => /\.(h|hpp)$/.test(f)).map((f) => path.join(trainerDir, f));
const outDir = path.join(root, 'native-models', 'bin', target);
const genDir = path.join(root, 'native-models', 'build', target);
const exe = path.join(outDir, windows ? 'ilf-trainer.exe' : 'ilf-trainer');
const tmpExe = path.join(outDir, windows ? 'ilf-trainer.tmp.exe' : 'ilf-trainer.tmp');

const fabric = path.dirname(require.resolve('@qvac/fabric/package'));
const prebuilds = path.join(fabric, 'prebuilds');
const include = path.join(prebuilds, 'include');
const libDir = path.join(prebuilds, target);
const library = path.join(libDir, 'qvac__fabric.bare');
if (!fs.existsSync(library)) fail(`@qvac/fabric has no prebuilt library for ${target}`, 'train on linux-x64, linux-arm64, darwin-arm64, darwin-x64 or win32-x64');

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
// Linux: the library's SONAME is qvac__fabric@0.bare, the name the loader looks for beside the trainer.
// Windows: fabric-dl.cpp loads qvac__fabric.bare from the exe's folder by full path.
const soname = target.startsWith('linux-') ? 'qvac__fabric@0.bare' : 'qvac__fabric.bare';
place(library, path.join(outDir, soname));
const backends = path.join(libDir, 'qvac__fabric');
if (fs.existsSync(backends)) {
  fs.mkdirSync(path.join(outDir, 'qvac__fabric'), { recursive: true });
  for (const f of fs.readdirSync(backends)) place(path.join(backends, f), path.join(outDir, 'qvac__fabric', f));
}

const inputs = [...sources, ...headers, library, fileURLToPath(import.meta.url)];
const upToDate = fs.existsSync(exe) && fs.statSync(exe).mtimeMs > Math.max(...inputs.map((f) => fs.statSync(f).mtimeMs));
if (upToDate && !process.argv.includes('--force')) process.exit(0);

/** Every function the fork's public headers declare (LLAMA_API / GGML_API / GGML_BACKEND_API). */
function declaredFunctions() {
  const names = new Set();
  const files = [...fs.readdirSync(include).filter((f) => f.endsWith('.h')).map((f) => path.join(include, f)), path.join(include, 'llama', 'llama.h')];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const m of text.matchAll(/\b(?:LLAMA_API|GGML_API|GGML_BACKEND_API)\b[^;{}#]*?\b((?:llama|ggml|gguf)_\w+)\s*\(/g)) names.add(m[1]);
  }
  return names;
}

/**
 * fabric-symbols.h (the X-macro list fabric-dl.h turns into a table of function pointers) and
 * fabric-redirect.h (one #define per function, so the trainer's calls go through the table).
 * Generated from the sources, so a new fork call in trainer.cpp needs no second edit.
 */
function generateSymbolTable() {
  const declared = declaredFunctions();
  const used = new Set();
  for (const file of [...sources, ...headers].filter((f) => !/fabric-dl\.(cpp|h)$/.test(f))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\b(?:llama|ggml|gguf)_\w+\b/g)) if (declared.has(m[0])) used.add(m[0]);
  }
  const names = [...used].sort();
  if (names.length === 0) fail('found no fork function in the trainer sources', 'is @qvac/fabric\'s include folder complete?');
  fs.mkdirSync(genDir, { recursive: true });
  const banner = '// Generated by native-models/tools/build-trainer.mjs from the trainer sources; do not edit.\n';
  fs.writeFileSync(path.join(genDir, 'fabric-symbols.h'),
    `${banner}#pragma once\n#define FABRIC_SYMBOLS(X) \\\n${names.map((n) => `  X(${n})`).join(' \\\n')}\n`);
  fs.writeFileSync(path.join(genDir, 'fabric-redirect.h'),
    `${banner}#pragma once\n${names.map((n) => `#define ${n} (fabric_api.${n})`).join('\n')}\n`);
  return names.length;
}

function works(command, args) {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const warnings = ['-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-missing-field-initializers'];
let compiler;
let args;
let installHint;
if (!windows) {
  compiler = process.env.CXX ?? (process.platform === 'darwin' ? 'clang++' : 'g++');
  installHint = process.platform === 'darwin' ? 'install the Xcode command line tools (`xcode-select --install`)' : 'install a C++17 compiler (Debian: apt-get install g++)';
  args = [
    '-std=c++17', '-O2', ...warnings, '-I', include, '-I', path.join(include, 'llama'),
    ...sources, '-o', tmpExe,
    ...(process.platform === 'darwin'
      ? [path.join(outDir, soname), '-Wl,-rpath,@loader_path']
      : ['-L', outDir, `-l:${soname}`, '-Wl,-rpath,$ORIGIN', '-pthread']),
  ];
} else {
  const count = generateSymbolTable();
  console.error(`build-trainer: ${count} fork functions resolved at run time (${path.relative(root, genDir)}/fabric-symbols.h)`);
  const includes = [include, path.join(include, 'llama'), trainerDir, genDir];
  // Cross from Linux: Debian's mingw-w64 with POSIX threads (std::thread needs them). Native: $CXX, else
  // a mingw g++ on PATH, else MSVC's cl (from a Developer Command Prompt).
  compiler = process.platform !== 'win32'
    ? process.env.MINGW_CXX ?? 'x86_64-w64-mingw32-g++-posix'
    : process.env.CXX ?? (works('g++', ['--version']) ? 'g++' : 'cl');
  installHint = process.platform !== 'win32'
    ? 'install mingw-w64 (Debian: apt-get install g++-mingw-w64-x86-64-posix) or set MINGW_CXX'
    : 'install MinGW-w64 (g++ on PATH) or Visual Studio\'s C++ tools and run from a Developer Command Prompt';
  const msvc = path.basename(compiler).toLowerCase().replace(/\.exe$/, '') === 'cl';
  args = msvc
    ? ['/nologo', '/std:c++17', '/O2', '/EHsc', '/utf-8', '/MT', '/W3', '/D_CRT_SECURE_NO_WARNINGS', ...includes.map((d) => `/I${d}`),
        ...sources, `/Fo${genDir}${path.sep}`, `/Fe${tmpExe}`]
    : ['-std=c++17', '-O2', ...warnings, ...includes.flatMap((d) => ['-I', d]), ...sources, '-o', tmpExe, '-static', '-pthread'];
}
console.error(`build-trainer: compiling ${path.relative(root, exe)} with ${compiler}`);
try {
  execFileSync(compiler, args, { stdio: 'inherit' });
} catch (e) {
  fail(`${compiler} failed (${e.message.split('\n')[0]})`, installHint);
}
fs.renameSync(tmpExe, exe);
