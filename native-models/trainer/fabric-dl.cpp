// Windows only: see fabric-dl.h.
#define FABRIC_DL_IMPLEMENTATION
#include "fabric-dl.h"

#define WIN32_LEAN_AND_MEAN
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <stdexcept>
#include <vector>

FabricApi fabric_api;

namespace {

std::string last_error_text(DWORD code) {
  char * text = nullptr;
  const DWORD n = FormatMessageA(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code,
                                 0, (LPSTR) &text, 0, nullptr);
  std::string out = n > 0 && text ? std::string(text, n) : "error " + std::to_string(code);
  if (text) LocalFree(text);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' || out.back() == '.')) out.pop_back();
  return out;
}

}  // namespace

void fabric_load(const std::filesystem::path & dir) {
  const std::filesystem::path dll = dir / "qvac__fabric.bare";
  // LOAD_WITH_ALTERED_SEARCH_PATH: the DLL's own imports (vulkan-1.dll) are searched from its folder and the system's.
  HMODULE module = LoadLibraryExW(dll.c_str(), nullptr, LOAD_WITH_ALTERED_SEARCH_PATH);
  if (!module) {
    const DWORD code = GetLastError();
    std::string hint;
    if (code == ERROR_MOD_NOT_FOUND) {
      hint = GetFileAttributesW(dll.c_str()) == INVALID_FILE_ATTRIBUTES
                 ? " (the file is missing: reinstall the app or run `npm run build:trainer`)"
                 : " (a DLL it needs is missing, most likely vulkan-1.dll: install a current GPU driver or the Vulkan runtime from https://vulkan.lunarg.com/sdk/home#windows)";
    }
    throw std::runtime_error("cannot load the llama.cpp fork " + dll.string() + ": " + last_error_text(code) + hint);
  }
  std::string missing;
  // GetProcAddress returns FARPROC; the cast through void * is how a C symbol gets its declared type back.
#define FABRIC_RESOLVE(name)                                                                             \
  fabric_api.name = reinterpret_cast<decltype(&::name)>(reinterpret_cast<void *>(GetProcAddress(module, #name))); \
  if (!fabric_api.name) missing += std::string(missing.empty() ? "" : ", ") + #name;
  FABRIC_SYMBOLS(FABRIC_RESOLVE)
#undef FABRIC_RESOLVE
  if (!missing.empty()) {
    throw std::runtime_error(dll.string() + " does not export " + missing + " (a different @qvac/fabric version than the trainer was built for?)");
  }
}

std::filesystem::path win_exe_dir() {
  std::vector<wchar_t> buffer(MAX_PATH);
  for (;;) {
    const DWORD n = GetModuleFileNameW(nullptr, buffer.data(), (DWORD) buffer.size());
    if (n == 0) return std::filesystem::current_path();
    if (n < buffer.size()) return std::filesystem::path(std::wstring(buffer.data(), n)).parent_path();
    buffer.resize(buffer.size() * 2);
  }
}

bool win_stdin_line(std::string & line) {
  static std::string pending;
  static bool eof = false;
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  for (;;) {
    const size_t nl = pending.find('\n');
    if (nl != std::string::npos) {
      line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
    if (eof || in == nullptr || in == INVALID_HANDLE_VALUE) {
      if (pending.empty()) return false;
      line.swap(pending);
      pending.clear();
      return true;
    }
    char chunk[256];
    DWORD got = 0;
    // A closed pipe ends ReadFile with ERROR_BROKEN_PIPE or 0 bytes: both are EOF here.
    if (!ReadFile(in, chunk, sizeof chunk, &got, nullptr) || got == 0) {
      eof = true;
      continue;
    }
    pending.append(chunk, got);
  }
}
