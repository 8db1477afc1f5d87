// Windows only: the fork's C API through LoadLibrary/GetProcAddress.
//
// @qvac/fabric ships its Windows build as a plain PE32+ DLL (qvac__fabric.bare). Linking against the
// `.exports` archive it also ships gave an executable whose imports were never bound, so the trainer
// resolves every fork function it calls at start instead. build-trainer.mjs generates the list
// (fabric-symbols.h: each llama_/ggml_/gguf_ function the trainer's sources mention) and the
// redirects (fabric-redirect.h: `#define llama_x (fabric_api.llama_x)`), so trainer.cpp's body calls
// the fork exactly as on POSIX. Only C functions and C structs cross the boundary: the DLL carries
// its own C++ runtime, so no C++ object or exception may pass between the two.
#pragma once

#include "ggml-backend.h"
#include "ggml-opt.h"
#include "llama.h"

#include <filesystem>
#include <string>

#include "fabric-symbols.h"

struct FabricApi {
#define FABRIC_MEMBER(name) decltype(&::name) name = nullptr;
  FABRIC_SYMBOLS(FABRIC_MEMBER)
#undef FABRIC_MEMBER
};
extern FabricApi fabric_api;

/** Loads `dir`/qvac__fabric.bare and fills fabric_api; throws std::runtime_error naming the DLL or every missing symbol. */
void fabric_load(const std::filesystem::path & dir);

/** The folder of the running executable (GetModuleFileNameW; there is no /proc/self/exe). */
std::filesystem::path win_exe_dir();

/**
 * The next line of stdin, without its line ending; false at EOF or when the pipe broke. Reads the raw
 * handle rather than std::cin: a thread blocked in the CRT's stdin holds its lock, and the CRT's exit
 * flushes every stream under that lock, so the process could hang at exit.
 */
bool win_stdin_line(std::string & line);

#ifndef FABRIC_DL_IMPLEMENTATION
#include "fabric-redirect.h"
#endif
