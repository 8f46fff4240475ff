// Greedy-by-size offset assignment of an inference pass's tensors in one arena.
#include "runtime/plan/reuse_plan.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace tensortier::runtime::plan {

namespace {

struct Buffer {
  std::uint64_t bytes = 0;
  int first = 0;
  int last = 0;
  std::uint64_t offset = 0;
  TensorId key = graph::kNoTensor;  // its first tensor: a stable tie-break
};

bool overlap_in_time(int a_first, int a_last, int b_first, int b_last) {
  return a_first <= b_last && b_first <= a_last;
}

bool planned(const Interval& i) {
  return !i.persistent && i.first >= 0 && i.kind != graph::TensorKind::saved;
}

// Whether an op of this kind may write its output over its first input.
bool runs_in_place(graph::OpKind kind) {
  return kind == graph::OpKind::activation || kind == graph::OpKind::batch_norm3d;
}

}  // namespace

ReusePlan plan_reuse(const Liveness& l, const graph::Graph* g, ReusePlanOptions options) {
  if (l.pass != Pass::inference)
    throw std::invalid_argument("reuse plan: needs the liveness of an inference pass");
  const std::uint64_t align = options.alignment;
  if (align == 0 || (align & (align - 1)) != 0)
    throw std::invalid_argument("reuse plan: alignment " + std::to_string(align) +
                                " is not a power of two");
  ReusePlan p;
  p.alignment = align;
  p.placement_of.assign(l.interval_of.size(), -1);
  std::vector<int> buffer_of;  // by placement
  std::vector<Buffer> buffers;
  for (const Interval& i : l.intervals) {
    if (i.persistent) {
      p.persistent_bytes += i.bytes;
      continue;
    }
    if (i.first < 0) {
      p.input_bytes += i.bytes;
      continue;
    }
    if (!planned(i)) continue;
    TensorPlacement t;
    t.tensor = i.tensor;
    t.bytes = round_up(std::max<std::uint64_t>(i.bytes, 1), align);
    t.first = i.first;
    t.last = i.last;
    p.placement_of[static_cast<std::size_t>(i.tensor)] = static_cast<int>(p.placements.size());
    p.placements.push_back(t);
    p.naive_bytes += t.bytes;
    buffer_of.push_back(static_cast<int>(buffers.size()));
    buffers.push_back({t.bytes, t.first, t.last, 0, t.tensor});
  }

  // In place: the output joins the buffer of an input that dies at the op.
  if (options.in_place && g != nullptr) {
    for (std::size_t s = 0; s < l.steps.size(); ++s) {
      const graph::OpNode& op = g->op(l.steps[s]);
      if (!runs_in_place(op.kind) || op.inputs.empty() || op.outputs.empty()) continue;
      const int xi = p.placement_of.at(static_cast<std::size_t>(op.inputs[0]));
      const int yi = p.placement_of.at(static_cast<std::size_t>(op.outputs[0]));
      if (xi < 0 || yi < 0) continue;
      const TensorPlacement& x = p.placements[static_cast<std::size_t>(xi)];
      TensorPlacement& y = p.placements[static_cast<std::size_t>(yi)];
      const graph::TensorInfo& xt = g->tensor(x.tensor);
      const graph::TensorInfo& yt = g->tensor(y.tensor);
      if (x.last != static_cast<int>(s) || y.first != static_cast<int>(s) || xt.dims != yt.dims ||
          xt.type != yt.type)
        continue;
      Buffer& bx = buffers[static_cast<std::size_t>(buffer_of[static_cast<std::size_t>(xi)])];
      Buffer& by = buffers[static_cast<std::size_t>(buffer_of[static_cast<std::size_t>(yi)])];
      bx.bytes = std::max(bx.bytes, by.bytes);
      bx.last = std::max(bx.last, by.last);
      by.bytes = 0;  // emptied: its tensor now lives in bx
      buffer_of[static_cast<std::size_t>(yi)] = buffer_of[static_cast<std::size_t>(xi)];
      y.in_place_of = x.tensor;
      p.in_place += 1;
    }
  }

  // Greedy by size over the non-empty buffers.
  std::vector<int> order;
  for (std::size_t b = 0; b < buffers.size(); ++b)
    if (buffers[b].bytes > 0) order.push_back(static_cast<int>(b));
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const Buffer& x = buffers[static_cast<std::size_t>(a)];
    const Buffer& y = buffers[static_cast<std::size_t>(b)];
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.first != y.first) return x.first < y.first;
    return x.key < y.key;
  });
  std::vector<int> placed;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> busy;  // [offset, end) of live neighbours
  for (int b : order) {
    Buffer& buf = buffers[static_cast<std::size_t>(b)];
    busy.clear();
    for (int o : placed) {
      const Buffer& other = buffers[static_cast<std::size_t>(o)];
      if (overlap_in_time(buf.first, buf.last, other.first, other.last))
        busy.emplace_back(other.offset, other.offset + other.bytes);
    }
    std::sort(busy.begin(), busy.end());
    std::uint64_t offset = 0;
    for (const auto& [start, end] : busy) {
      if (offset + buf.bytes <= start) break;  // fits in the gap before this one
      offset = std::max(offset, end);
    }
    buf.offset = offset;
    p.arena_bytes = std::max(p.arena_bytes, offset + buf.bytes);
    placed.push_back(b);
  }
  p.buffers = static_cast<int>(order.size());
  for (std::size_t i = 0; i < p.placements.size(); ++i) {
    p.placements[i].buffer = buffer_of[i];
    p.placements[i].offset = buffers[static_cast<std::size_t>(buffer_of[i])].offset;
  }

  // Lower bound: the most buffer bytes live at one step (in-place pairs once).
  const std::size_t n = l.steps.size();
  std::vector<std::uint64_t> live(n + 1, 0);
  for (int b : order) {
    const Buffer& buf = buffers[static_cast<std::size_t>(b)];
    for (int s = buf.first; s <= buf.last && static_cast<std::size_t>(s) < n; ++s)
      live[static_cast<std::size_t>(s)] += buf.bytes;
  }
  for (std::size_t s = 0; s < n; ++s)
    if (live[s] > p.lower_bound_bytes) {
      p.lower_bound_bytes = live[s];
      p.peak_step = static_cast<int>(s);
    }
  return p;
}

std::string check_plan(const ReusePlan& p) {
  std::vector<std::size_t> order(p.placements.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return p.placements[a].offset < p.placements[b].offset;
  });
  for (std::size_t ai = 0; ai < order.size(); ++ai) {
    const TensorPlacement& a = p.placements[order[ai]];
    const std::string name_a = "tensor " + std::to_string(a.tensor);
    if (p.alignment > 0 && a.offset % p.alignment != 0)
      return name_a + " at offset " + std::to_string(a.offset) + " is not aligned";
    if (a.offset + a.bytes > p.arena_bytes) return name_a + " ends past the arena";
    if (a.first > a.last) return name_a + " has an empty lifetime";
    for (std::size_t bi = ai + 1; bi < order.size(); ++bi) {
      const TensorPlacement& b = p.placements[order[bi]];
      if (b.offset >= a.offset + a.bytes) break;  // sorted: no later one overlaps a
      if (a.buffer != b.buffer && overlap_in_time(a.first, a.last, b.first, b.last))
        return name_a + " [" + std::to_string(a.first) + ", " + std::to_string(a.last) +
               "] and tensor " + std::to_string(b.tensor) + " [" + std::to_string(b.first) +
               ", " + std::to_string(b.last) + "] overlap in memory";
    }
  }
  return {};
}

}  // namespace tensortier::runtime::plan
