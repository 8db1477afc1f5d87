// ilf-trainer: trains a LoRA adapter directly on a GGUF model with the C API of the LoRA-training
// llama.cpp fork that @qvac/fabric ships prebuilt. One process per training run; the app talks to it
// through argv, a JSON config, JSON lines on stdout and "stop" lines on stdin (or SIGTERM).
//
// Output lines (one JSON object each, flushed):
//   {"phase":"start", ...sizes}            once, before the first step
//   {"phase":"train", step, epoch, loss, tokens_per_s (useful), slots_per_s (padding too), eta_s}
//   {"phase":"validation", step, epoch, loss}
//   {"phase":"checkpoint", step, path}
//   {"phase":"done"|"stopped", step, adapter}
//   {"phase":"error", message}              then exit 1 (2 for bad input)
//   {"phase":"devices", devices: [...]}     only with --list-devices (then exit 0)
// Exit codes: 0 finished, 3 stopped on request (adapter written), 1 failure, 2 bad input.

#include "ggml-backend.h"
#include "ggml-opt.h"
#include "llama.h"
#include "nlohmann/json.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(_WIN32)
#include <fcntl.h>
#include <io.h>
#include "fabric-dl.h"  // the fork's functions through LoadLibrary/GetProcAddress: it ships no usable import library
#else
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#endif
// After fabric-dl.h: on Windows their fork calls go through the same table.
#include "length-groups.hpp"
#include "machine-bench.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int EXIT_STOPPED = 3;
constexpr int EXIT_BAD_INPUT = 2;

struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

FILE * g_metrics = nullptr;  // --metrics FILE: every train/validation line, appended and flushed

void emit(const json & line) {
  // One write per line so a reader never sees half an object.
  std::string s = line.dump() + "\n";
  fwrite(s.data(), 1, s.size(), stdout);
  fflush(stdout);
  // The metrics file survives a reader that went away mid-run: it is the series' record of truth.
  const std::string phase = line.value("phase", "");
  if (g_metrics && (phase == "train" || phase == "validation")) {
    fwrite(s.data(), 1, s.size(), g_metrics);
    fflush(g_metrics);
  }
}

// ---- configuration ----------------------------------------------------------------------------

struct Config {
  int rank = 8;
  float alpha = 16.0f;
  std::vector<std::string> target_modules = {"attn_q", "attn_k", "attn_v", "attn_o", "ffn_gate", "ffn_up", "ffn_down"};
  float learning_rate = 1e-4f;
  float weight_decay = 0.0f;
  int epochs = 3;
  int batch_size = 1;          // examples per optimizer step, packed into one context
  int context_size = 512;      // most tokens per example: longer rows are left out and reported
  int length_groups = 6;       // examples grouped by length, each group in a context sized to it; 1 = one context sized to the longest
  float validation_fraction = 0.0f;
  uint32_t seed = 42;
  int threads = 0;             // 0 = physical cores
  int checkpoint_every = 50;   // optimizer steps; 0 = only at epoch ends and on stop
  int gpu_layers = -1;         // -1 = all layers on a GPU when there is one
  std::string lr_schedule = "linear";  // linear decay to 0 over the run, or constant
};

/** Physical cores (SMT siblings add nothing to matmul-bound work); the logical count where Linux cannot tell. */
int physical_cores() {
  const int logical = (int) std::max(1u, std::thread::hardware_concurrency());
  std::ifstream info("/proc/cpuinfo");
  std::string line, physical = "0";
  std::vector<std::string> cores;
  while (std::getline(info, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "physical id") physical = value;
    if (key == "core id" && std::find(cores.begin(), cores.end(), physical + ":" + value) == cores.end()) cores.push_back(physical + ":" + value);
  }
  return cores.empty() ? logical : std::min((int) cores.size(), logical);
}

uint32_t target_bit(const std::string & name) {
  if (name == "attn_q") return LLAMA_LORA_TARGET_ATTN_Q;
  if (name == "attn_k") return LLAMA_LORA_TARGET_ATTN_K;
  if (name == "attn_v") return LLAMA_LORA_TARGET_ATTN_V;
  if (name == "attn_o" || name == "attn_output") return LLAMA_LORA_TARGET_ATTN_O;
  if (name == "ffn_gate") return LLAMA_LORA_TARGET_FFN_GATE;
  if (name == "ffn_up") return LLAMA_LORA_TARGET_FFN_UP;
  if (name == "ffn_down") return LLAMA_LORA_TARGET_FFN_DOWN;
  if (name == "output") return LLAMA_LORA_TARGET_OUTPUT;
  throw BadInput("unknown target module \"" + name + "\" (use attn_q, attn_k, attn_v, attn_o, ffn_gate, ffn_up, ffn_down, output)");
}

template <typename T>
void read_field(const json & j, const char * key, T & out) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    out = j[key].get<T>();
  } catch (const std::exception &) {
    throw BadInput(std::string("config field ") + key + " has the wrong type");
  }
}

Config read_config(const std::string & file) {
  std::ifstream in(file);
  if (!in) throw BadInput("cannot read config " + file);
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception & e) {
    throw BadInput("config " + file + " is not JSON: " + e.what());
  }
  if (!j.is_object()) throw BadInput("config must be a JSON object");
  Config c;
  read_field(j, "rank", c.rank);
  read_field(j, "alpha", c.alpha);
  read_field(j, "targetModules", c.target_modules);
  read_field(j, "learningRate", c.learning_rate);
  read_field(j, "weightDecay", c.weight_decay);
  read_field(j, "epochs", c.epochs);
  read_field(j, "batchSize", c.batch_size);
  read_field(j, "contextSize", c.context_size);
  read_field(j, "lengthGroups", c.length_groups);
  read_field(j, "validationFraction", c.validation_fraction);
  read_field(j, "seed", c.seed);
  read_field(j, "threads", c.threads);
  read_field(j, "checkpointEvery", c.checkpoint_every);
  read_field(j, "gpuLayers", c.gpu_layers);
  read_field(j, "lrSchedule", c.lr_schedule);
  if (c.lr_schedule != "linear" && c.lr_schedule != "constant") throw BadInput("lrSchedule must be \"linear\" or \"constant\"");
  if (c.rank < 1 || c.rank > 1024) throw BadInput("rank must be 1–1024, got " + std::to_string(c.rank));
  if (!(c.alpha > 0)) throw BadInput("alpha must be > 0");
  if (!(c.learning_rate > 0)) throw BadInput("learningRate must be > 0");
  if (c.weight_decay < 0) throw BadInput("weightDecay must be >= 0");
  if (c.epochs < 1) throw BadInput("epochs must be >= 1");
  if (c.batch_size < 1 || c.batch_size > 256) throw BadInput("batchSize must be 1–256");
  if (c.context_size < 8 || c.context_size > 1 << 20) throw BadInput("contextSize must be >= 8");
  if (c.validation_fraction < 0 || c.validation_fraction >= 1) throw BadInput("validationFraction must be in [0, 1)");
  if (c.length_groups < 1 || c.length_groups > 64) throw BadInput("lengthGroups must be 1–64");
  if (c.checkpoint_every < 0) throw BadInput("checkpointEvery must be >= 0");
  if (c.target_modules.empty()) throw BadInput("targetModules is empty");
  if (c.threads <= 0) c.threads = physical_cores();
  return c;
}

// ---- training rows ------------------------------------------------------------------------------

struct Example {
  std::vector<llama_token> tokens;
  size_t prompt_len;  // loss is taken on tokens[prompt_len..], never on the prompt
};

std::vector<llama_token> tokenize(const llama_vocab * vocab, const std::string & text, bool add_special) {
  int n = -llama_tokenize(vocab, text.data(), (int32_t) text.size(), nullptr, 0, add_special, false);
  std::vector<llama_token> out(std::max(n, 0));
  if (n > 0 && llama_tokenize(vocab, text.data(), (int32_t) text.size(), out.data(), n, add_special, false) != n) {
    throw std::runtime_error("tokenization failed");
  }
  return out;
}

std::vector<llama_token> token_array(const json & row, const char * key, int n_vocab, size_t line) {
  if (!row[key].is_array()) throw BadInput("line " + std::to_string(line) + ": " + key + " must be an array of token ids");
  std::vector<llama_token> out;
  for (const auto & t : row[key]) {
    if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() >= n_vocab) {
      throw BadInput("line " + std::to_string(line) + ": " + key + " holds a token id outside the model's vocabulary");
    }
    out.push_back(t.get<llama_token>());
  }
  return out;
}

/**
 * Rows are {"prompt","completion"} text (tokenized here: BOS when the model wants one, EOS after the
 * completion) or {"prompt_tokens","completion_tokens"} already tokenized by the caller, which lets
 * the app use the exact prompt tokens it samples with (chat templates included).
 */
std::vector<Example> read_rows(const std::string & file, const llama_vocab * vocab, std::vector<size_t> & too_long_lines, int max_tokens) {
  std::ifstream in(file);
  if (!in) throw BadInput("cannot read training set " + file);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  std::vector<Example> out;
  std::string text;
  size_t line = 0;
  too_long_lines.clear();
  while (std::getline(in, text)) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    json row;
    try {
      row = json::parse(text);
    } catch (const std::exception &) {
      throw BadInput("line " + std::to_string(line) + " of " + file + " is not JSON");
    }
    Example ex;
    std::vector<llama_token> completion;
    if (row.is_object() && row.contains("prompt_tokens") && row.contains("completion_tokens")) {
      ex.tokens = token_array(row, "prompt_tokens", n_vocab, line);
      completion = token_array(row, "completion_tokens", n_vocab, line);
    } else if (row.is_object() && row["prompt"].is_string() && row["completion"].is_string()) {
      ex.tokens = tokenize(vocab, row["prompt"].get<std::string>(), true);
      completion = tokenize(vocab, row["completion"].get<std::string>(), false);
      completion.push_back(llama_vocab_eos(vocab));
    } else {
      throw BadInput("line " + std::to_string(line) + " of " + file +
                     " needs {\"prompt\", \"completion\"} strings or {\"prompt_tokens\", \"completion_tokens\"} arrays");
    }
    if (completion.empty()) throw BadInput("line " + std::to_string(line) + ": the completion is empty");
    ex.prompt_len = ex.tokens.size();
    ex.tokens.insert(ex.tokens.end(), completion.begin(), completion.end());
    if ((int) ex.tokens.size() > max_tokens) {
      too_long_lines.push_back(line);  // reported in the start line, never dropped silently
      continue;
    }
    out.push_back(std::move(ex));
  }
  return out;
}

// ---- the dataset as the fork wants it: one datapoint = one context of tokens, labels and masks -----

struct Layout {
  std::vector<size_t> train;       // example indices, in training order for the current epoch
  std::vector<size_t> validation;  // fixed
};

int64_t datapoints_for(size_t examples, int batch) { return (int64_t) ((examples + batch - 1) / batch); }

/** Writes the examples, `batch` per datapoint, into datapoints [first, first + count). */
void fill(ggml_opt_dataset_t ds, const std::vector<Example> & examples, const std::vector<size_t> & order,
          int64_t first, int ctx_slot, int batch, llama_token pad) {
  const int64_t ne = (int64_t) ctx_slot * batch;
  auto * data = (int32_t *) ggml_opt_dataset_data(ds)->data;
  auto * labels = (int32_t *) ggml_opt_dataset_labels(ds)->data;
  auto * masks = (int32_t *) ggml_opt_dataset_masks(ds)->data;
  const int64_t count = datapoints_for(order.size(), batch);
  for (int64_t d = 0; d < count; ++d) {
    int32_t * tok = data + (first + d) * ne;
    int32_t * lab = labels + (first + d) * ne;
    int32_t * msk = masks + (first + d) * ne;
    for (int s = 0; s < batch; ++s) {
      // A short last group wraps around, so every slot holds a real example.
      const Example & ex = examples[order[(d * batch + s) % order.size()]];
      const int64_t base = (int64_t) s * ctx_slot;
      for (int i = 0; i < ctx_slot; ++i) {
        const bool real = (size_t) i < ex.tokens.size();
        tok[base + i] = real ? ex.tokens[i] : pad;
        const bool next_real = (size_t) (i + 1) < ex.tokens.size();
        lab[base + i] = next_real ? ex.tokens[i + 1] : pad;
        // Position i predicts token i+1: trained only when that token belongs to the completion.
        msk[base + i] = (next_real && (size_t) (i + 1) >= ex.prompt_len) ? 1 : 0;
      }
    }
  }
}

/** The real (non-padding) tokens in each datapoint that `fill` makes of `order`: throughput counts these, not the slots. */
std::vector<int64_t> datapoint_tokens(const std::vector<Example> & examples, const std::vector<size_t> & order, int ctx_slot, int batch) {
  const int64_t count = datapoints_for(order.size(), batch);
  std::vector<int64_t> tokens((size_t) count, 0);
  for (int64_t d = 0; d < count; ++d) {
    for (int s = 0; s < batch; ++s) {
      const Example & ex = examples[order[(d * batch + s) % order.size()]];
      tokens[(size_t) d] += std::min<int64_t>((int64_t) ex.tokens.size(), ctx_slot);
    }
  }
  return tokens;
}

// ---- run state shared with the epoch callback (the fork's callback takes no user data) ---------

std::atomic<bool> g_stop{false};

struct Run {
  llama_context * ctx = nullptr;
  llama_model * model = nullptr;
  llama_adapter_lora * adapter = nullptr;
  Config cfg;
  std::string checkpoint_dir;
  json fingerprint;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  int64_t step = 0;            // optimizer steps completed, over all epochs
  int epoch = 0;
  int slot = 0;                   // tokens per example slot of the current context (its length group)
  std::vector<int64_t> dp_tokens; // real (non-padding) tokens of each datapoint of this epoch's order
  std::vector<int64_t> dp_slots;  // slots (padding included) of each datapoint of this epoch's order
  int64_t real_tokens_done = 0;   // real tokens processed by this invocation
  int64_t slots_done = 0;         // slots computed by this invocation
  double loss_sum_prev = 0;
  int64_t loss_n_prev = 0;
  std::chrono::steady_clock::time_point t_start;
  int64_t steps_at_start = 0;
  bool stop_requested = false;
  int64_t max_steps = 0;  // benchmark only: stop after this many steps of this invocation
  std::string last_checkpoint;
  std::string callback_error;  // set inside the callback, thrown after the epoch returns
};
Run * g_run = nullptr;

void on_signal(int) { g_stop.store(true); }

void watch_stdin(bool stop_on_eof) {
  std::string line;
#if defined(_WIN32)
  while (win_stdin_line(line)) {
#else
  while (std::getline(std::cin, line)) {
#endif
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "stop") g_stop.store(true);
  }
  // The app keeps our stdin open; EOF means it went away, so stop cleanly and keep the checkpoint.
  if (stop_on_eof) g_stop.store(true);
}

std::string step_dir(const std::string & root, int64_t step) {
  char name[32];
  snprintf(name, sizeof name, "step-%08lld", (long long) step);
  return (fs::path(root) / name).string();
}

/**
 * Flushes a file, or on POSIX a directory, to the disk. A rename survives a crash only when the data
 * it names and the directory entry both reached the disk; Windows cannot open a directory to flush
 * it (NTFS journals the rename itself), so there only files are flushed.
 */
void fsync_path(const fs::path & p, bool directory) {
#if defined(_WIN32)
  if (directory) return;
  const int fd = _wopen(p.c_str(), _O_RDWR | _O_BINARY);
  if (fd < 0) throw std::runtime_error("cannot open " + p.string() + " to flush it");
  const int rc = _commit(fd);
  _close(fd);
  if (rc != 0) throw std::runtime_error("cannot flush " + p.string() + " to disk");
#else
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) throw std::runtime_error("cannot open " + p.string() + " to flush it: " + strerror(errno));
#if defined(__APPLE__)
  // macOS's fsync leaves the data in the drive's cache; F_FULLFSYNC flushes it (not every file system has it).
  int rc = ::fcntl(fd, F_FULLFSYNC);
  if (rc != 0) rc = ::fsync(fd);
#else
  const int rc = ::fsync(fd);
#endif
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error("cannot flush " + p.string() + " to disk: " + strerror(err));
#endif
}

/** The folder a path lives in, "." for a bare name. */
fs::path folder_of(const fs::path & file) {
  return file.has_parent_path() ? file.parent_path() : fs::path(".");
}

/** Replaces `file` by the finished `tmp` so that after a crash either the old or the whole new file is there. */
void rename_durably(const fs::path & tmp, const fs::path & file) {
  fsync_path(tmp, false);
  fs::rename(tmp, file);
  fsync_path(folder_of(file), true);
}

void write_json_atomic(const fs::path & file, const json & value) {
  fs::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    out << value.dump(2) << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  rename_durably(tmp, file);
}

/**
 * Adapter + optimizer state in a new folder, flushed with the folder's entry, and only then
 * `latest.json` points at it; older folders go.
 */
void save_checkpoint(Run & r) {
  if (r.checkpoint_dir.empty() || r.step == 0 || step_dir(r.checkpoint_dir, r.step) == r.last_checkpoint) return;
  const std::string dir = step_dir(r.checkpoint_dir, r.step);
  fs::remove_all(dir);
  if (!llama_lora_save_checkpoint(r.adapter, dir.c_str(), r.model, r.ctx)) throw std::runtime_error("could not save a checkpoint to " + dir);
  for (const auto & entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) fsync_path(entry.path(), false);
  }
  fsync_path(dir, true);
  fsync_path(r.checkpoint_dir, true);
  write_json_atomic(fs::path(r.checkpoint_dir) / "latest.json",
                    {{"step", r.step}, {"dir", fs::path(dir).filename().string()}, {"fingerprint", r.fingerprint}});
  if (!r.last_checkpoint.empty() && r.last_checkpoint != dir) fs::remove_all(r.last_checkpoint);
  r.last_checkpoint = dir;
  emit({{"phase", "checkpoint"}, {"step", r.step}, {"path", dir}});
  fprintf(stderr, "ilf-trainer: checkpoint at step %lld\n", (long long) r.step);
}

double delta_loss(Run & r, ggml_opt_result_t result) {
  double mean = 0, unc = 0;
  int64_t n = 0;
  ggml_opt_result_loss(result, &mean, &unc);
  ggml_opt_result_ndata(result, &n);
  const double sum = mean * (double) n;
  const double d = n > r.loss_n_prev ? (sum - r.loss_sum_prev) / (double) (n - r.loss_n_prev) : mean;
  r.loss_sum_prev = sum;
  r.loss_n_prev = n;
  return d;
}

void on_train_batch(bool train, ggml_opt_context_t, ggml_opt_dataset_t, ggml_opt_result_t result, int64_t ibatch, int64_t ibatch_max, int64_t) {
  Run & r = *g_run;
  if (!train) {
    if (ibatch == ibatch_max) {
      double mean = 0, unc = 0;
      ggml_opt_result_loss(result, &mean, &unc);
      emit({{"phase", "validation"}, {"step", r.step}, {"epoch", r.epoch + 1}, {"loss", mean}});
    }
    return;
  }
  // ibatch counts ubatches; one optimizer step spans `batch_size` of them.
  if (ibatch % r.cfg.batch_size != 0) return;
  const double loss = delta_loss(r, result);
  double accuracy = 0, accuracy_unc = 0;
  ggml_opt_result_accuracy(result, &accuracy, &accuracy_unc);  // over this length group so far, target tokens only
  r.step += 1;
  const size_t dp = (size_t) ((r.step - 1) % r.steps_per_epoch);
  if (dp < r.dp_tokens.size()) r.real_tokens_done += r.dp_tokens[dp];
  if (dp < r.dp_slots.size()) r.slots_done += r.dp_slots[dp];
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.t_start).count();
  const int64_t done_here = r.step - r.steps_at_start;
  const double per_step = elapsed / (double) std::max<int64_t>(done_here, 1);
  emit({{"phase", "train"},
        {"step", r.step},
        {"total_steps", r.total_steps},
        {"epoch", (double) r.step / (double) r.steps_per_epoch},
        {"loss", loss},
        {"accuracy", std::isfinite(accuracy) ? accuracy : 0.0},
        // Useful tokens (the examples' own) per second; slots_per_s also counts the padding that fills each context.
        {"tokens_per_s", elapsed > 0 ? (double) r.real_tokens_done / elapsed : 0.0},
        {"slots_per_s", elapsed > 0 ? (double) r.slots_done / elapsed : 0.0},
        // Totals of this invocation, so a benchmark can time any span of steps (e.g. leave out the first).
        {"tokens", r.real_tokens_done},
        {"slots", r.slots_done},
        {"elapsed_s", elapsed},
        {"eta_s", per_step * (double) (r.total_steps - r.step)}});
  // Exceptions must not unwind through the fork's frames (another C++ runtime): keep the message, stop, rethrow later.
  try {
    if (r.cfg.checkpoint_every > 0 && r.step % r.cfg.checkpoint_every == 0 && r.step < r.total_steps) save_checkpoint(r);
  } catch (const std::exception & e) {
    r.callback_error = e.what();
  }
  if (g_stop.load() || !r.callback_error.empty() || (r.max_steps > 0 && done_here >= r.max_steps)) {
    r.stop_requested = true;
    llama_opt_request_stop(r.ctx);
  }
}

/** Called before every optimizer step; the schedule follows completed steps, so a resumed run continues it. */
ggml_opt_optimizer_params optimizer_params(void * ud) {
  const Run & r = *(const Run *) ud;
  const Config & c = r.cfg;
  ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
  const double progress = r.total_steps > 0 ? (double) r.step / (double) r.total_steps : 0.0;
  const float lr = c.lr_schedule == "linear" ? (float) (c.learning_rate * std::max(0.0, 1.0 - progress)) : c.learning_rate;
  p.adamw.alpha = lr;
  p.adamw.wd = c.weight_decay;
  p.sgd.alpha = lr;
  p.sgd.wd = c.weight_decay;
  return p;
}

void log_to_stderr(ggml_log_level level, const char * text, void * verbose) {
  if (level >= GGML_LOG_LEVEL_WARN || verbose != nullptr || level == GGML_LOG_LEVEL_CONT) fputs(text, stderr);
}

fs::path exe_dir() {
#if defined(_WIN32)
  return win_exe_dir();
#endif
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : p.parent_path();
}


/** --list-devices: what this build of the fork can compute on here, so the app can say where training will run. */
int list_devices() {
  json devices = json::array();
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t d = ggml_backend_dev_get(i);
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(d, &free, &total);
    const auto t = ggml_backend_dev_type(d);
    const char * type = t == GGML_BACKEND_DEVICE_TYPE_CPU ? "cpu" : t == GGML_BACKEND_DEVICE_TYPE_GPU ? "gpu" : t == GGML_BACKEND_DEVICE_TYPE_IGPU ? "igpu" : "accel";
    devices.push_back({{"name", ggml_backend_dev_name(d)}, {"description", ggml_backend_dev_description(d)},
                       {"backend", ggml_backend_reg_name(ggml_backend_dev_backend_reg(d))}, {"type", type},
                       {"memory_total", total}, {"memory_free", free}});
  }
  emit({{"phase", "devices"}, {"devices", devices}});
  return 0;
}

struct Args {
  std::string model, data, config, out, checkpoint_dir, backends, init_adapter, metrics;
  bool resume = false, stop_on_eof = false, verbose = false, list_devices = false;
  bool plan_only = false;  // --plan: print the length groups and tokens per epoch, train nothing
  bool skip_thread_warmup = false;  // benchmark baseline: the fork's default thread handling
  int bench_n = 0, bench_threads = 0;
  int bench_memory_mib = 0, bench_cols = 0;  // --bench-memory MiB; --bench-matmul N --cols C --type q8_0
  std::string bench_type = "f32";
  long long max_steps = 0;
};

Args parse_args(int argc, char ** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw BadInput(k + " needs a value");
      return argv[++i];
    };
    if (k == "--model") a.model = value();
    else if (k == "--data") a.data = value();
    else if (k == "--config") a.config = value();
    else if (k == "--out") a.out = value();
    else if (k == "--checkpoint-dir") a.checkpoint_dir = value();
    else if (k == "--backends") a.backends = value();
    else if (k == "--init-adapter") a.init_adapter = value();
    else if (k == "--metrics") a.metrics = value();
    else if (k == "--resume") a.resume = true;
    else if (k == "--plan") a.plan_only = true;
    else if (k == "--stop-on-stdin-eof") a.stop_on_eof = true;
    else if (k == "--verbose") a.verbose = true;
    else if (k == "--max-steps") a.max_steps = std::stoll(value());
    else if (k == "--skip-thread-warmup") a.skip_thread_warmup = true;
    else if (k == "--list-devices") a.list_devices = true;
    else if (k == "--bench-matmul") a.bench_n = std::stoi(value());
    else if (k == "--threads") a.bench_threads = std::stoi(value());
    else if (k == "--bench-memory") a.bench_memory_mib = std::stoi(value());
    else if (k == "--cols") a.bench_cols = std::stoi(value());
    else if (k == "--type") a.bench_type = value();
    else throw BadInput("unknown argument " + k);
  }
  if (a.bench_n == 0 && a.bench_memory_mib == 0 && !a.list_devices && (a.model.empty() || a.data.empty() || a.config.empty() || (a.out.empty() && !a.plan_only))) {
    throw BadInput("usage: ilf-trainer --model BASE.gguf --data TRAIN.jsonl --config CONFIG.json --out ADAPTER.gguf [--checkpoint-dir DIR] [--resume]");
  }
  return a;
}

/** A training context of `slot` tokens per example, `batch` examples per step, with the adapter applied. */
llama_context * make_context(llama_model * model, const Config & cfg, int slot) {
  llama_context_params cp = llama_context_default_params();
  const int64_t ne = (int64_t) slot * cfg.batch_size;
  cp.n_ctx = (uint32_t) ne;
  cp.n_batch = (uint32_t) ne;
  cp.n_ubatch = (uint32_t) slot;  // one example per ubatch; gradients accumulate over the batch
  cp.n_seq_max = 1;
  cp.n_threads = cfg.threads;
  cp.n_threads_batch = cfg.threads;
  cp.type_k = GGML_TYPE_F32;
  cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.training = true;
  llama_context * ctx = llama_init_from_model(model, cp);
  if (!ctx) throw std::runtime_error("could not create a llama context of " + std::to_string(ne) + " tokens (out of memory?)");
  return ctx;
}

/**
 * Makes the current context one of `slot` tokens per example. The fork fixes a context's size when
 * it is made, so another length group needs another context: the optimizer state (AdamW moments,
 * step) goes through `state_file` into the new one, which gets the same adapter.
 */
void use_context(Run & r, int slot, llama_opt_params op, const std::string & state_file, llama_token warm, bool warm_up) {
  if (r.ctx && r.slot == slot) return;
  bool carry = false;
  if (r.ctx) {
    if (!llama_opt_save_state(r.ctx, state_file.c_str())) throw std::runtime_error("could not hand the optimizer state to the next length group");
    llama_free(r.ctx);
    r.ctx = nullptr;
    carry = true;
  }
  r.ctx = make_context(r.model, r.cfg, slot);
  r.slot = slot;
  float scale = 1.0f;
  llama_set_adapters_lora(r.ctx, &r.adapter, 1, &scale);
  // One decode before llama_opt_init: it makes the context hand its thread count to the CPU
  // backend, which the training path otherwise leaves at ggml's default (4 busy threads; on a
  // 2-core machine that was ~200× slower).
  if (warm_up) {
    llama_batch one = llama_batch_get_one(&warm, 1);
    if (llama_decode(r.ctx, one) != 0) throw std::runtime_error("warm-up decode failed");
    llama_memory_clear(llama_get_memory(r.ctx), true);
  }
  if (carry) {
    op.checkpoint_path = state_file.c_str();
    op.load_optimizer_state = true;
  }
  llama_opt_init(r.ctx, r.model, op);
}

/** Lengths of the examples, for grouping. */
std::vector<int> lengths_of(const std::vector<Example> & examples) {
  std::vector<int> out;
  for (const auto & ex : examples) out.push_back((int) ex.tokens.size());
  return out;
}

constexpr int SLOT_GRANULARITY = 32;  // contexts are sized in steps of this many tokens

int train(const Args & args) {
  const Config cfg = read_config(args.config);
  for (const auto & f : {args.model, args.data}) {
    if (!fs::is_regular_file(f)) throw BadInput("no such file: " + f);
  }
  uint32_t targets = 0;
  for (const auto & m : cfg.target_modules) targets |= target_bit(m);

  llama_model_params mp = llama_model_default_params();
  mp.load_mode = LLAMA_LOAD_MODE_NONE;  // read into memory: the fork trains on writable buffers
  mp.n_gpu_layers = cfg.gpu_layers < 0 ? 999 : cfg.gpu_layers;
  mp.vocab_only = args.plan_only;
  llama_model * model = llama_model_load_from_file(args.model.c_str(), mp);
  if (!model) throw BadInput("llama.cpp could not load " + args.model + " (not a GGUF model it supports?)");
  const llama_vocab * vocab = llama_model_get_vocab(model);

  std::vector<size_t> too_long;
  std::vector<Example> examples = read_rows(args.data, vocab, too_long, cfg.context_size);
  if (examples.empty()) {
    throw BadInput(!too_long.empty() ? "every row is longer than contextSize (" + std::to_string(cfg.context_size) + " tokens); raise it"
                                     : "the training set has no rows");
  }

  // Which examples validate is fixed by the seed; the training order is reshuffled every epoch.
  std::vector<size_t> all(examples.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::mt19937 split_rng(cfg.seed);
  std::shuffle(all.begin(), all.end(), split_rng);
  size_t n_val = (size_t) (cfg.validation_fraction * (double) all.size() + 0.5);
  if (n_val >= all.size()) n_val = all.size() - 1;
  Layout layout;
  layout.validation.assign(all.end() - (long) n_val, all.end());
  layout.train.assign(all.begin(), all.end() - (long) n_val);
  std::sort(layout.train.begin(), layout.train.end());

  // The context is sized from the data: each length group's longest example, rounded up.
  const int B = cfg.batch_size;
  const std::vector<int> lengths = lengths_of(examples);
  const std::vector<ilf::LengthGroup> groups = ilf::plan_length_groups(layout.train, lengths, B, cfg.context_size, SLOT_GRANULARITY, cfg.length_groups);
  int val_slot = 0;
  for (size_t i : layout.validation) val_slot = std::max(val_slot, std::min(cfg.context_size, ilf::round_up(lengths[i], SLOT_GRANULARITY)));
  int64_t n_train_dp = 0, computed = 0, useful = 0;
  int max_slot = val_slot;
  json group_lines = json::array();
  for (const auto & g : groups) {
    n_train_dp += datapoints_for(g.members.size(), B);
    computed += ilf::slots_for(g.members.size(), B, g.context);
    for (size_t i : g.members) useful += lengths[i];
    max_slot = std::max(max_slot, g.context);
    group_lines.push_back({{"context", g.context}, {"examples", g.members.size()}});
  }
  size_t target_tokens = 0;
  for (const auto & ex : examples) target_tokens += ex.tokens.size() - ex.prompt_len;
  const json sizes = {{"examples", examples.size()}, {"train", layout.train.size()}, {"validation", n_val},
                      {"skipped_too_long", too_long.size()}, {"too_long_lines", too_long}, {"target_tokens", target_tokens},
                      {"steps_per_epoch", n_train_dp}, {"total_steps", n_train_dp * cfg.epochs},
                      {"context", (int64_t) max_slot * B}, {"threads", cfg.threads}, {"groups", group_lines},
                      // One epoch's tokens: the examples' own, what is computed, and what one context of contextSize would compute.
                      {"useful_tokens_per_epoch", useful}, {"computed_tokens_per_epoch", computed},
                      {"fixed_context_tokens_per_epoch", ilf::slots_for(layout.train.size(), B, cfg.context_size)}};
  if (args.plan_only) {
    json plan = sizes;
    plan["phase"] = "plan";
    emit(plan);
    llama_model_free(model);
    return 0;
  }

  Run r;
  r.model = model;
  r.cfg = cfg;
  r.checkpoint_dir = args.checkpoint_dir;
  r.steps_per_epoch = n_train_dp;
  r.total_steps = n_train_dp * cfg.epochs;
  r.max_steps = args.max_steps;
  r.fingerprint = {{"rank", cfg.rank}, {"alpha", cfg.alpha}, {"targets", targets}, {"batchSize", B},
                   {"contextSize", cfg.context_size}, {"lengthGroups", cfg.length_groups}, {"seed", cfg.seed},
                   {"examples", examples.size()}, {"modelParams", llama_model_n_params(model)}};
  g_run = &r;
  // The first group's context; the adapter is made (or loaded) on it.
  r.ctx = make_context(model, cfg, groups.front().context);
  r.slot = groups.front().context;

  // Resume: the adapter and optimizer state of the last checkpoint, if it was made for this run.
  int64_t resume_step = 0;
  std::string optimizer_state;
  if (args.resume) {
    const fs::path latest = fs::path(args.checkpoint_dir) / "latest.json";
    if (args.checkpoint_dir.empty() || !fs::exists(latest)) throw BadInput("nothing to resume: no checkpoint in " + args.checkpoint_dir);
    json meta = json::parse(std::ifstream(latest));
    if (meta["fingerprint"] != r.fingerprint) {
      throw BadInput("the checkpoint in " + args.checkpoint_dir + " was made with other settings or data; start a new run instead");
    }
    const fs::path dir = fs::path(args.checkpoint_dir) / meta["dir"].get<std::string>();
    r.adapter = llama_adapter_lora_init(model, (dir / "model.gguf").string().c_str());
    if (!r.adapter) throw std::runtime_error("could not load the checkpoint adapter " + (dir / "model.gguf").string());
    optimizer_state = (dir / "optimizer.gguf").string();
    resume_step = meta["step"].get<int64_t>();
    r.last_checkpoint = dir.string();
  } else if (!args.init_adapter.empty()) {
    // A later round: keep training an adapter made before (its own rank and alpha).
    r.adapter = llama_adapter_lora_init(model, args.init_adapter.c_str());
    if (!r.adapter) throw BadInput("could not load the adapter " + args.init_adapter + " for this model");
  } else {
    llama_lora_training_params lp = {targets, cfg.rank, cfg.alpha, 0.0f, 0.02f, cfg.seed == 0 ? 1u : cfg.seed};
    r.adapter = llama_lora_training_init(r.ctx, model, &lp);
    if (!r.adapter) throw std::runtime_error("LoRA initialisation failed (do the target modules exist in this model?)");
  }
  // use_context sets the adapter and initialises the optimizer on the context it makes.
  llama_free(r.ctx);
  r.ctx = nullptr;

  llama_opt_params op = llama_opt_default_params();
  op.param_filter = llama_opt_param_filter_lora;
  op.get_opt_pars = optimizer_params;
  op.get_opt_pars_ud = (void *) &r;
  op.optimizer_type = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
  op.checkpoint_path = optimizer_state.empty() ? nullptr : optimizer_state.c_str();
  op.load_optimizer_state = !optimizer_state.empty();
  op.assistant_loss_only = true;
  const std::string state_file = args.out + ".optimizer-handover.gguf";
  const llama_token warm = examples[0].tokens[0];
  use_context(r, groups.front().context, op, state_file, warm, !args.skip_thread_warmup);
  op.checkpoint_path = nullptr;  // later contexts take the state handed over, not the checkpoint's
  op.load_optimizer_state = false;

  const llama_token pad = llama_vocab_eos(vocab);
  fprintf(stderr, "ilf-trainer: %s, %llu parameters, %d threads, %zu length groups up to %d tokens, %s\n", args.model.c_str(),
          (unsigned long long) llama_model_n_params(model), cfg.threads, groups.size(), max_slot, args.resume ? "resuming" : "new adapter");
  json start = sizes;
  start["phase"] = "start";
  start["resumed_from_step"] = resume_step;
  start["model_params"] = llama_model_n_params(model);
  emit(start);

  r.step = resume_step;
  r.steps_at_start = resume_step;
  r.t_start = std::chrono::steady_clock::now();
  ggml_opt_result_t res_train = ggml_opt_result_init();
  ggml_opt_result_t res_val = ggml_opt_result_init();
  for (int epoch = (int) (resume_step / n_train_dp); epoch < cfg.epochs && !r.stop_requested; ++epoch) {
    r.epoch = epoch;
    // This epoch's order: the groups shuffled, and the examples within each group.
    std::mt19937 epoch_rng(cfg.seed + 7919u * (uint32_t) (epoch + 1));
    std::vector<size_t> group_order(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) group_order[g] = g;
    std::shuffle(group_order.begin(), group_order.end(), epoch_rng);
    std::vector<std::vector<size_t>> orders;
    r.dp_tokens.clear();
    r.dp_slots.clear();
    for (size_t g : group_order) {
      std::vector<size_t> order = groups[g].members;
      std::shuffle(order.begin(), order.end(), epoch_rng);
      for (int64_t t : datapoint_tokens(examples, order, groups[g].context, B)) {
        r.dp_tokens.push_back(t);
        r.dp_slots.push_back((int64_t) groups[g].context * B);
      }
      orders.push_back(std::move(order));
    }
    int64_t skip = epoch == resume_step / n_train_dp ? resume_step % n_train_dp : 0;
    r.loss_sum_prev = 0;
    r.loss_n_prev = 0;
    for (size_t k = 0; k < group_order.size() && !r.stop_requested; ++k) {
      const ilf::LengthGroup & g = groups[group_order[k]];
      const int64_t dps = datapoints_for(g.members.size(), B);
      if (skip >= dps) {  // done before the resume
        skip -= dps;
        continue;
      }
      use_context(r, g.context, op, state_file, warm, !args.skip_thread_warmup);
      // A result object takes one batch size only; each group's batches have their own.
      ggml_opt_result_reset(res_train);
      r.loss_sum_prev = 0;
      r.loss_n_prev = 0;
      const int64_t ne = (int64_t) g.context * B;
      ggml_opt_dataset_t ds = ggml_opt_dataset_init_with_masks(GGML_TYPE_I32, GGML_TYPE_I32, GGML_TYPE_I32, ne, ne, ne, dps, 1);
      fill(ds, examples, orders[k], 0, g.context, B, pad);
      // The fork resumes *after* the given datapoint index; -1 is the whole group.
      llama_opt_epoch_resume(r.ctx, ds, res_train, res_val, dps, on_train_batch, on_train_batch, skip - 1);
      skip = 0;
      ggml_opt_dataset_free(ds);
      if (!r.callback_error.empty()) throw std::runtime_error(r.callback_error);
    }
    ggml_opt_result_reset(res_train);
    if (n_val > 0 && !r.stop_requested) {
      // Validation in the current context when it is long enough, so no extra switch.
      if (r.slot < val_slot) use_context(r, val_slot, op, state_file, warm, !args.skip_thread_warmup);
      const int64_t ne = (int64_t) r.slot * B;
      const int64_t val_dp = datapoints_for(n_val, B);
      ggml_opt_dataset_t vds = ggml_opt_dataset_init_with_masks(GGML_TYPE_I32, GGML_TYPE_I32, GGML_TYPE_I32, ne, ne, ne, val_dp, 1);
      fill(vds, examples, layout.validation, 0, r.slot, B, pad);
      llama_opt_epoch(r.ctx, vds, res_train, res_val, 0, on_train_batch, on_train_batch);
      ggml_opt_dataset_free(vds);
      ggml_opt_result_reset(res_val);
    }
    if (!r.stop_requested && r.step < r.total_steps) save_checkpoint(r);
  }
  ggml_opt_result_free(res_train);
  ggml_opt_result_free(res_val);
  fs::remove(state_file);

  save_checkpoint(r);
  const std::string tmp = args.out + ".tmp";
  if (!llama_lora_save_adapter(r.adapter, tmp.c_str(), model)) throw std::runtime_error("could not write the adapter to " + tmp);
  rename_durably(tmp, args.out);
  emit({{"phase", r.stop_requested ? "stopped" : "done"}, {"step", r.step}, {"total_steps", r.total_steps}, {"adapter", args.out}});

  llama_free(r.ctx);
  llama_model_free(model);
  return r.stop_requested ? EXIT_STOPPED : 0;
}

}  // namespace

int main(int argc, char ** argv) {
  try {
    const Args args = parse_args(argc, argv);
#if defined(_WIN32)
    fabric_load(exe_dir());
#endif
    llama_log_set(log_to_stderr, args.verbose ? (void *) 1 : nullptr);
    const std::string backends = args.backends.empty() ? (exe_dir() / "qvac__fabric").string() : args.backends;
    ggml_backend_load_all_from_path(backends.c_str());
    llama_backend_init();
    if (args.list_devices) return list_devices();
    const int bench_threads = args.bench_threads > 0 ? args.bench_threads : 1;
    if (args.bench_memory_mib > 0) {
      emit({{"phase", "memory"}, {"mib", args.bench_memory_mib}, {"threads", bench_threads},
            {"bytes_per_s", ilf::bench_memory(args.bench_memory_mib, bench_threads, 5)}});
      return 0;
    }
    if (args.bench_n > 0) {
      // --bench-matmul N [--cols C] [--type q8_0]: N×N weights times N×C activations (C defaults to N).
      if (args.bench_type != "f32" && args.bench_type != "q8_0") throw BadInput("--type must be f32 or q8_0");
      const int cols = args.bench_cols > 0 ? args.bench_cols : args.bench_n;
      const ggml_type type = args.bench_type == "q8_0" ? GGML_TYPE_Q8_0 : GGML_TYPE_F32;
      emit({{"phase", "matmul"}, {"n", args.bench_n}, {"cols", cols}, {"type", args.bench_type}, {"threads", bench_threads},
            {"flops", ilf::bench_matmul_typed(args.bench_n, cols, type, bench_threads, 5)}, {"backend", "CPU"}});
      return 0;
    }
    if (!args.metrics.empty() && !(g_metrics = fopen(args.metrics.c_str(), "a"))) throw BadInput("cannot write the metrics file " + args.metrics);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::thread(watch_stdin, args.stop_on_eof).detach();
    return train(args);
  } catch (const BadInput & e) {
    emit({{"phase", "error"}, {"kind", "bad_input"}, {"message", e.what()}});
    return EXIT_BAD_INPUT;
  } catch (const std::exception & e) {
    emit({{"phase", "error"}, {"kind", "failure"}, {"message", e.what()}});
    return 1;
  }
}
