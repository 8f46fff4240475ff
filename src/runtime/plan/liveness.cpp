// Liveness intervals of a pass over a graph's schedule.
#include "runtime/plan/liveness.hpp"

#include <algorithm>

namespace tensortier::runtime::plan {

using graph::Graph;
using graph::OpKind;
using graph::Phase;
using graph::TensorInfo;

const char* pass_name(Pass pass) noexcept {
  return pass == Pass::training ? "training" : "inference";
}

int Liveness::next_use(const Interval& i, int s) {
  const auto it = std::upper_bound(i.uses.begin(), i.uses.end(), s);
  return it == i.uses.end() ? -1 : *it;
}

std::vector<int> need_points(const Interval& i) {
  std::vector<int> p;
  if (i.first >= 0) p.push_back(i.first);
  p.insert(p.end(), i.uses.begin(), i.uses.end());
  std::sort(p.begin(), p.end());
  p.erase(std::unique(p.begin(), p.end()), p.end());
  return p;
}

std::vector<std::vector<int>> working_sets(const Liveness& l) {
  std::vector<std::vector<int>> sets(l.steps.size());
  for (std::size_t i = 0; i < l.intervals.size(); ++i)
    for (int s : need_points(l.intervals[i])) sets[static_cast<std::size_t>(s)].push_back(static_cast<int>(i));
  return sets;
}

Liveness compute_liveness(const Graph& graph, Pass pass, std::uint64_t granule) {
  Liveness l;
  l.pass = pass;
  std::vector<int> step_of(graph.ops().size(), -1);  // by OpId
  for (const graph::OpNode& op : graph.ops()) {
    if (pass == Pass::inference && (op.phase != Phase::forward || op.kind == OpKind::loss))
      continue;
    step_of[static_cast<std::size_t>(op.id)] = static_cast<int>(l.steps.size());
    l.steps.push_back(op.id);
  }
  const int n = static_cast<int>(l.steps.size());
  l.interval_of.assign(graph.tensors().size(), -1);
  for (const TensorInfo& t : graph.tensors()) {
    // What a forward op keeps for its backward op exists only in training.
    if (pass == Pass::inference && t.kind == graph::TensorKind::saved) continue;
    Interval i;
    i.tensor = t.id;
    i.kind = t.kind;
    i.bytes = round_up(t.bytes, granule);
    i.persistent = graph::is_persistent(t.kind);
    for (OpId u : t.uses)
      if (const int s = step_of[static_cast<std::size_t>(u)]; s >= 0) i.uses.push_back(s);
    const int def = t.producer == graph::kNoOp ? kBeforeStart
                                               : step_of[static_cast<std::size_t>(t.producer)];
    if (t.producer != graph::kNoOp && def < 0) continue;  // defined outside the pass
    if (def == kBeforeStart && i.uses.empty()) continue;  // fed or persistent, unused here
    i.first = def;
    i.last = i.persistent ? n - 1 : std::max(def, i.uses.empty() ? def : i.uses.back());
    l.interval_of[static_cast<std::size_t>(t.id)] = static_cast<int>(l.intervals.size());
    l.intervals.push_back(std::move(i));
  }

  l.live_bytes.assign(static_cast<std::size_t>(n), 0);
  std::vector<std::int64_t> delta(static_cast<std::size_t>(n) + 1, 0);
  for (const Interval& i : l.intervals) {
    l.naive_bytes += i.bytes;
    if (i.persistent) {
      l.persistent_bytes += i.bytes;
      continue;
    }
    if (n == 0) continue;
    delta[static_cast<std::size_t>(std::max(i.first, 0))] += static_cast<std::int64_t>(i.bytes);
    delta[static_cast<std::size_t>(i.last) + 1] -= static_cast<std::int64_t>(i.bytes);
  }
  std::int64_t live = 0;
  std::uint64_t peak = 0;
  for (int s = 0; s < n; ++s) {
    live += delta[static_cast<std::size_t>(s)];
    l.live_bytes[static_cast<std::size_t>(s)] = static_cast<std::uint64_t>(live);
    if (static_cast<std::uint64_t>(live) > peak) {
      peak = static_cast<std::uint64_t>(live);
      l.peak_step = s;
    }
  }
  l.lower_bound_bytes = peak + l.persistent_bytes;
  return l;
}

}  // namespace tensortier::runtime::plan
