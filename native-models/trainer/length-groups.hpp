// Length grouping for the trainer: examples of similar length share a context sized to the longest
// of them, so a step computes on tokens rather than on padding. Header-only, no llama.cpp types,
// so the planner stays separate from trainer.cpp (which several changes touch).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace ilf {

struct LengthGroup {
  int context = 0;               // tokens per example slot in this group's context
  std::vector<size_t> members;   // example indices, in data order
};

inline int round_up(int n, int to) { return (n + to - 1) / to * to; }

/** Context slots one epoch computes for `examples` in groups of `batch`, each padded to `context` (a short last group wraps around). */
inline int64_t slots_for(size_t examples, int batch, int context) {
  return (int64_t) ((examples + (size_t) batch - 1) / (size_t) batch) * batch * context;
}

/**
 * Splits `indices` into at most `max_groups` groups by length, choosing the boundaries that
 * minimise the slots one epoch computes. A group's context is its longest member rounded up to
 * `granularity` (and at most `cap`), so boundaries need only be tried between distinct rounded
 * lengths: a dynamic programme over those few positions. Every length must be ≤ cap.
 */
inline std::vector<LengthGroup> plan_length_groups(std::vector<size_t> indices, const std::vector<int> & lengths, int batch, int cap,
                                                   int granularity, int max_groups) {
  std::vector<LengthGroup> out;
  if (indices.empty()) return out;
  std::stable_sort(indices.begin(), indices.end(), [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  const auto ctx_of = [&](size_t sorted_pos) { return std::min(cap, round_up(lengths[indices[sorted_pos]], granularity)); };
  // Candidate group ends: the last position of each run of equal rounded length.
  std::vector<size_t> ends;
  for (size_t i = 0; i < indices.size(); ++i) {
    if (i + 1 == indices.size() || ctx_of(i + 1) != ctx_of(i)) ends.push_back(i + 1);
  }
  const size_t m = ends.size();
  const int k_max = std::max(1, std::min<int>(max_groups, (int) m));
  const int64_t inf = std::numeric_limits<int64_t>::max() / 4;
  // best[k][j]: least slots covering the first ends[j-1] examples with k groups (j = 0: none).
  std::vector<std::vector<int64_t>> best(k_max + 1, std::vector<int64_t>(m + 1, inf));
  std::vector<std::vector<size_t>> from(k_max + 1, std::vector<size_t>(m + 1, 0));
  best[0][0] = 0;
  for (int k = 1; k <= k_max; ++k) {
    for (size_t j = 1; j <= m; ++j) {
      for (size_t i = 0; i < j; ++i) {
        if (best[k - 1][i] >= inf) continue;
        const size_t first = i == 0 ? 0 : ends[i - 1];
        const int64_t cost = best[k - 1][i] + slots_for(ends[j - 1] - first, batch, ctx_of(ends[j - 1] - 1));
        if (cost < best[k][j]) {
          best[k][j] = cost;
          from[k][j] = i;
        }
      }
    }
  }
  int k_best = 1;
  for (int k = 1; k <= k_max; ++k) if (best[k][m] < best[k_best][m]) k_best = k;
  std::vector<size_t> cuts;  // positions in `ends`, back to front
  for (size_t j = m, k = (size_t) k_best; k > 0; --k) {
    cuts.push_back(j);
    j = from[k][j];
  }
  std::reverse(cuts.begin(), cuts.end());
  size_t first = 0;
  for (size_t c : cuts) {
    LengthGroup g;
    g.context = ctx_of(ends[c - 1] - 1);
    g.members.assign(indices.begin() + (long) first, indices.begin() + (long) ends[c - 1]);
    std::sort(g.members.begin(), g.members.end());  // in data order, as without grouping: the epoch's shuffle then orders them
    first = ends[c - 1];
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace ilf
