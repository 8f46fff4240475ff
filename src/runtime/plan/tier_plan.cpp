// The training tier plan: a simulation of the pass under the DRAM budget.
#include "runtime/plan/tier_plan.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "tensortier/allocator.hpp"
#include "tensortier/config.hpp"

namespace tensortier::runtime::plan {

namespace {

// The simulation's view of one interval: the steps it is needed at.
struct Need {
  std::vector<int> points;  // definition (if in the pass) and uses, ascending, unique
  bool wraps = false;       // persistent or fed: used again in the next pass
};

class Simulation {
 public:
  Simulation(const graph::Graph& g, const Liveness& l, std::uint64_t capacity,
             const TierPlanOptions& options)
      : l_(l),
        cap_(capacity),
        n_(static_cast<int>(l.steps.size())),
        at_step_(working_sets(l)),
        dimms_(options.pmem_dimms),
        migration_cost_(options.in_place ? options.migration_cost : 0) {
    const double read_in_place_flops_per_byte =
        options.in_place ? options.read_in_place_flops_per_byte : 0;
    updated_.resize(static_cast<std::size_t>(n_));
    read_in_place_bytes_.assign(static_cast<std::size_t>(n_), 0);
    for (int s = 0; s < n_; ++s) {
      const graph::OpNode& op = g.op(l.steps[static_cast<std::size_t>(s)]);
      for (TensorId t : op.updates)
        if (const int i = l.interval_of[static_cast<std::size_t>(t)]; i >= 0)
          updated_[static_cast<std::size_t>(s)].push_back(i);
      if (read_in_place_flops_per_byte > 0)
        read_in_place_bytes_[static_cast<std::size_t>(s)] =
            static_cast<std::uint64_t>(op.flops / read_in_place_flops_per_byte);
    }
    needs_.resize(l.intervals.size());
    for (std::size_t i = 0; i < l.intervals.size(); ++i) {
      needs_[i].wraps = l.intervals[i].first == kBeforeStart;
      needs_[i].points = need_points(l.intervals[i]);
    }
  }

  // Runs the pass from `resident` (by interval: in DRAM at the start; only
  // wrapping intervals may be set). Fills plan's actions, dram_bytes, spans
  // and counters, and returns the residency at the end of the pass.
  std::vector<char> run(std::vector<char> resident, TierPlan& plan) {
    const std::size_t count = l_.intervals.size();
    plan.actions.assign(static_cast<std::size_t>(n_), {});
    plan.dram_bytes.assign(static_cast<std::size_t>(n_), 0);
    plan.start_in_pmem.clear();
    plan.pmem_spans.assign(count, {});
    plan.bytes_demoted = plan.bytes_prefetched = plan.bytes_fetched = plan.bytes_in_place = 0;
    plan.bytes_written_in_place = 0;
    hidden_ = read_in_place_bytes_;
    std::vector<int> absent_from(count, 0), evicted_at(count, -1);
    std::vector<int> stamp(count, -2);
    struct Fetch {
      int interval, step, evicted_at;
      std::size_t span;
    };
    std::vector<Fetch> fetches;
    std::uint64_t r = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (!needs_[i].wraps) resident[i] = 0;
      if (resident[i]) r += bytes(i);
    }
    for (std::size_t i = 0; i < count; ++i)
      if (needs_[i].wraps && !resident[i] && !needs_[i].points.empty()) absent_from[i] = 0;
    // Over the capacity from the start: demote before the first step.
    while (r > cap_) {
      const int v = victim(resident, stamp, -1, -1);
      if (v < 0) break;
      resident[static_cast<std::size_t>(v)] = 0;
      r -= bytes(static_cast<std::size_t>(v));
      absent_from[static_cast<std::size_t>(v)] = 0;
      plan.start_in_pmem.push_back(l_.intervals[static_cast<std::size_t>(v)].tensor);
      plan.bytes_demoted += bytes(static_cast<std::size_t>(v));
    }

    // Interval u, no longer resident at step s, was never in DRAM after all:
    // its producer writes it in place and the steps using it up to `last`
    // read it there, their compute hiding what it can of that traffic (one
    // DIMM's, or scaled to pmem_dimms).
    auto written_in_place_from_definition = [&](std::size_t u, int last, int s, int evicted,
                                                bool scaled) {
      const int p = l_.intervals[u].first;
      for (int k : needs_[u].points) {
        if (k > last) break;
        plan.actions[static_cast<std::size_t>(k)].in_place.push_back(l_.intervals[u].tensor);
        plan.bytes_in_place += bytes(u);
        hidden_[static_cast<std::size_t>(k)] =
            exposed(hidden_[static_cast<std::size_t>(k)],
                    scaled ? pmem_traffic(u, k) : one_dimm_traffic(u, k));
      }
      for (int k = p; k < s; ++k) plan.dram_bytes[static_cast<std::size_t>(k)] -= bytes(u);
      absent_from[u] = p;
      evicted_at[u] = evicted;
    };

    // Evicts the resident tensor not needed at s whose next use is farthest;
    // its demotion moves back to right after its previous use. Or, when that
    // costs the compute less, the tensor never was in DRAM: its producer
    // wrote it in place and the ops since read it there.
    auto evict_one = [&](int s) {
      const int v = victim(resident, stamp, s, s);
      if (v < 0) return false;
      const auto u = static_cast<std::size_t>(v);
      resident[u] = 0;
      r -= bytes(u);
      const int prev = previous_point(u, s);
      const int p = l_.intervals[u].first;
      if (evicted_at[u] < 0 && p >= 0 && !needs_[u].wraps &&
          in_place_cost(u, p, prev) < migration_cost(u)) {
        written_in_place_from_definition(u, prev, s, s, /*scaled=*/true);
        plan.bytes_written_in_place += bytes(u);
        return true;
      }
      absent_from[u] = prev + 1;
      evicted_at[u] = s;
      for (int k = prev + 1; k < s; ++k) plan.dram_bytes[static_cast<std::size_t>(k)] -= bytes(u);
      if (prev >= 0) {
        plan.actions[static_cast<std::size_t>(prev)].demote.push_back(l_.intervals[u].tensor);
      } else {
        plan.start_in_pmem.push_back(l_.intervals[u].tensor);
      }
      plan.bytes_demoted += bytes(u);
      return true;
    };

    for (int s = 0; s < n_; ++s) {
      std::vector<int> wanted;  // needed now, not in DRAM
      for (int i : at_step_[static_cast<std::size_t>(s)]) {
        stamp[static_cast<std::size_t>(i)] = s;
        if (!resident[static_cast<std::size_t>(i)]) wanted.push_back(i);
      }
      // DRAM goes first to what the op updates, then to what it writes, then
      // to the largest inputs.
      std::sort(wanted.begin(), wanted.end(), [&](int a, int b) {
        const int pa = rank(a, s), pb = rank(b, s);
        if (pa != pb) return pa < pb;
        return bytes(static_cast<std::size_t>(a)) > bytes(static_cast<std::size_t>(b));
      });
      for (int i : wanted) {
        const auto u = static_cast<std::size_t>(i);
        const bool defined_here = l_.intervals[u].first == s;
        // What a compute-bound op may read in place (in PMem) without waiting.
        std::uint64_t& in_place_allowance = hidden_[static_cast<std::size_t>(s)];
        if (rank(i, s) == 2 && bytes(u) <= in_place_allowance) {
          in_place_allowance -= bytes(u);
          plan.actions[static_cast<std::size_t>(s)].in_place.push_back(l_.intervals[u].tensor);
          plan.bytes_in_place += bytes(u);
          evicted_at[u] = s;  // a later fetch may be prefetched from here on
          continue;
        }
        while (r + bytes(u) > cap_ && evict_one(s)) {
        }
        // No room even with every other tensor evicted, for an output: it
        // would be written in PMem, at a third of PMem's read bandwidth. An
        // input that came straight from its producer may go there instead,
        // written in place by its producer, when less PMem time is then left
        // unhidden by the two ops' compute.
        if (r + bytes(u) > cap_ && defined_here) {
          if (const int v = written_by_producer_instead(resident, s, u, r); v >= 0) {
            const auto w = static_cast<std::size_t>(v);
            resident[w] = 0;
            r -= bytes(w);
            // Its uses: p and s (written_by_producer_instead).
            written_in_place_from_definition(w, s, s, l_.intervals[w].first, /*scaled=*/false);
          }
        }
        if (r + bytes(u) <= cap_) {
          resident[u] = 1;
          r += bytes(u);
          if (defined_here) continue;  // a new allocation
          plan.pmem_spans[u].push_back({absent_from[u], s - 1});
          fetches.push_back({i, s, evicted_at[u], plan.pmem_spans[u].size() - 1});
          continue;
        }
        // No room even with every other tensor evicted: the op reads (or
        // writes) this one in place in PMem.
        plan.actions[static_cast<std::size_t>(s)].in_place.push_back(l_.intervals[u].tensor);
        plan.bytes_in_place += bytes(u);
        in_place_allowance =
            exposed(in_place_allowance, defined_here ? write_cost(bytes(u)) : bytes(u));
        if (defined_here) absent_from[u] = s;
        evicted_at[u] = s;
      }
      plan.dram_bytes[static_cast<std::size_t>(s)] = r;
      for (int i : at_step_[static_cast<std::size_t>(s)]) {
        const auto u = static_cast<std::size_t>(i);
        if (!needs_[u].wraps && l_.intervals[u].last == s && resident[u]) {
          resident[u] = 0;
          r -= bytes(u);
        }
      }
    }
    for (std::size_t u = 0; u < count; ++u)
      if (needs_[u].wraps && !resident[u] && !needs_[u].points.empty())
        plan.pmem_spans[u].push_back({absent_from[u], n_ - 1});

    // Prefetch each fetched tensor as early as DRAM has room for it, from
    // the step that evicted it up to its use; earliest uses first.
    std::sort(fetches.begin(), fetches.end(),
              [](const Fetch& a, const Fetch& b) { return a.step < b.step; });
    for (const Fetch& f : fetches) {
      const auto u = static_cast<std::size_t>(f.interval);
      const int lo = std::max(f.evicted_at, 0);
      int q = f.step - 1;  // prefetch after step q: resident during q+1 .. step-1
      while (q - 1 >= lo && plan.dram_bytes[static_cast<std::size_t>(q)] + bytes(u) <= cap_) --q;
      if (q >= lo && q < f.step - 1) {
        for (int k = q + 1; k < f.step; ++k) plan.dram_bytes[static_cast<std::size_t>(k)] += bytes(u);
        plan.actions[static_cast<std::size_t>(q)].prefetch.push_back(l_.intervals[u].tensor);
        plan.pmem_spans[u][f.span].second = q;
        plan.bytes_prefetched += bytes(u);
      } else {
        plan.actions[static_cast<std::size_t>(f.step)].fetch.push_back(l_.intervals[u].tensor);
        plan.bytes_fetched += bytes(u);
      }
    }
    return resident;
  }

 private:
  std::uint64_t bytes(std::size_t i) const { return l_.intervals[i].bytes; }

  // 0: updated by step s's op, 1: written (defined) by it, 2: read by it.
  int rank(int i, int s) const {
    const auto u = static_cast<std::size_t>(i);
    if (l_.intervals[u].first == s) return 1;
    const auto& upd = updated_[static_cast<std::size_t>(s)];
    return std::find(upd.begin(), upd.end(), i) != upd.end() ? 0 : 2;
  }

  // Next step needing interval i after s; a wrapping interval's next use
  // after its last is its first in the next pass.
  long next_point(std::size_t i, int s) const {
    const auto& p = needs_[i].points;
    const auto it = std::upper_bound(p.begin(), p.end(), s);
    if (it != p.end()) return *it;
    if (needs_[i].wraps && !p.empty()) return static_cast<long>(n_) + p.front();
    return std::numeric_limits<long>::max();
  }

  // Last step needing interval i before s, -1 when none.
  int previous_point(std::size_t i, int s) const {
    const auto& p = needs_[i].points;
    const auto it = std::lower_bound(p.begin(), p.end(), s);
    return it == p.begin() ? -1 : *std::prev(it);
  }

  // a - b, or 0 when b is larger: PMem traffic beyond what compute hides, and
  // what compute still hides once it has hidden some.
  static std::uint64_t exposed(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

  // PMem traffic in read-equivalent bytes: writing a byte takes as long as
  // reading write_cost(1) (Optane: 6.6 / 2.3 GB/s per DIMM, whatever the count).
  std::uint64_t write_cost(std::uint64_t bytes) const {
    return static_cast<std::uint64_t>(static_cast<double>(bytes) * write_over_read_);
  }

  // Step k's PMem traffic for interval i used there in place, in bytes read
  // from one DIMM: writing it where k defines it, reading and writing it
  // where k updates it, reading it otherwise.
  std::uint64_t one_dimm_traffic(std::size_t i, int k) const {
    const int how = rank(static_cast<int>(i), k);
    const std::uint64_t b = bytes(i);
    return how == 1 ? write_cost(b) : how == 0 ? b + write_cost(b) : b;
  }
  // The same on pmem_dimms DIMMs, in one DIMM's time; 0 when PMem is as
  // fast as DRAM.
  std::uint64_t pmem_traffic(std::size_t i, int k) const {
    if (dimms_ <= 0) return 0;
    return static_cast<std::uint64_t>(static_cast<double>(one_dimm_traffic(i, k)) / dimms_);
  }

  // The PMem time (bytes read from one DIMM) that the compute of the steps
  // using interval i from `from` to `to` would not hide, were i in PMem there.
  std::uint64_t in_place_cost(std::size_t i, int from, int to) const {
    std::uint64_t cost = 0;
    for (int k : needs_[i].points)
      if (k >= from && k <= to)
        cost += exposed(pmem_traffic(i, k), hidden_[static_cast<std::size_t>(k)]);
    return cost;
  }

  // What demoting interval i costs the compute (bytes read from one DIMM).
  std::uint64_t migration_cost(std::size_t i) const {
    return static_cast<std::uint64_t>(static_cast<double>(bytes(i)) * migration_cost_);
  }

  // For an output u of step s that does not fit in DRAM (r resident, all
  // needed at s): an input of s, resident since its producer p defined it and
  // unused in between, whose leaving DRAM makes room for u and costs less
  // exposed PMem time — p writing it (beyond what p's compute hides), then s
  // reading it — than s writing u. -1 when none; the cheapest otherwise.
  int written_by_producer_instead(const std::vector<char>& resident, int s, std::size_t u,
                                  std::uint64_t r) const {
    const std::uint64_t need = r + bytes(u) - cap_;
    std::uint64_t best_cost = exposed(write_cost(bytes(u)), hidden_[static_cast<std::size_t>(s)]);
    int best = -1;
    for (int i : at_step_[static_cast<std::size_t>(s)]) {
      const auto w = static_cast<std::size_t>(i);
      const int p = l_.intervals[w].first;
      if (!resident[w] || needs_[w].wraps || rank(i, s) != 2 || bytes(w) < need || p < 0 ||
          p >= s || previous_point(w, s) != p)
        continue;
      const std::uint64_t cost =
          exposed(one_dimm_traffic(w, p), hidden_[static_cast<std::size_t>(p)]) +
          exposed(one_dimm_traffic(w, s), hidden_[static_cast<std::size_t>(s)]);
      if (cost < best_cost) {
        best_cost = cost;
        best = i;
      }
    }
    return best;
  }

  // The resident interval not needed at `s` (stamp != s) whose next use after
  // `from` is farthest; -1 when none.
  int victim(const std::vector<char>& resident, const std::vector<int>& stamp, int s,
             int from) const {
    int best = -1;
    long best_next = -1;
    for (std::size_t i = 0; i < resident.size(); ++i) {
      if (!resident[i] || stamp[i] == s) continue;
      const long next = next_point(i, from);
      if (next > best_next || (next == best_next && bytes(i) > bytes(static_cast<std::size_t>(best)))) {
        best = static_cast<int>(i);
        best_next = next;
      }
    }
    return best;
  }

  const Liveness& l_;
  std::uint64_t cap_;
  int n_ = 0;
  std::vector<Need> needs_;
  std::vector<std::vector<int>> at_step_;  // by step: the intervals it needs
  std::vector<std::vector<int>> updated_;  // by step: the intervals its op updates
  std::vector<std::uint64_t> read_in_place_bytes_;  // by step: see read_in_place_flops_per_byte
  // By step, during run(): the PMem traffic (read-equivalent bytes) its
  // compute still hides, starting from read_in_place_bytes_.
  std::vector<std::uint64_t> hidden_;
  double dimms_ = 1;           // TierPlanOptions::pmem_dimms
  double migration_cost_ = 0;  // TierPlanOptions::migration_cost
  double write_over_read_ = OptaneThrottle{}.read_gbps_per_dimm / OptaneThrottle{}.write_gbps_per_dimm;
};

std::string op_label(const graph::Graph& g, const Liveness& l, int s) {
  const graph::OpNode& op = g.op(l.steps[static_cast<std::size_t>(s)]);
  return std::string(graph::op_kind_name(op.kind)) + " '" + op.name + "'";
}

}  // namespace

double shared_mover_migration_cost() {
  return OptaneThrottle{}.read_gbps_per_dimm / kSharedMoverCopyGbps;
}

double pmem_dimms_reading(double read_gbps) {
  return read_gbps / OptaneThrottle{}.read_gbps_per_dimm;
}

std::uint64_t automatic_reserve(const graph::Graph& graph, std::uint64_t scratchpad_bytes,
                                std::uint64_t temporaries_bytes, std::uint64_t granule) {
  std::uint64_t largest_weight = 0;
  for (const graph::TensorInfo& t : graph.tensors())
    if (t.kind == graph::TensorKind::weight) largest_weight = std::max(largest_weight, t.bytes);
  return round_up(std::max(2 * largest_weight, temporaries_bytes) + scratchpad_bytes, granule) +
         (4ULL << 20);
}

Result<TierPlan> plan_tiers(const graph::Graph& graph, const Liveness& liveness,
                            const TierPlanOptions& options) {
  TierPlan plan;
  plan.budget = options.dram_budget;
  plan.reserve = options.reserve_bytes;
  plan.footprint = liveness.lower_bound_bytes;
  const std::vector<std::vector<int>> sets = working_sets(liveness);
  std::uint64_t largest = 0;
  for (std::size_t s = 0; s < sets.size(); ++s) {
    std::uint64_t ws = 0;
    for (int i : sets[s]) ws += liveness.intervals[static_cast<std::size_t>(i)].bytes;
    if (ws > largest) {
      largest = ws;
      plan.critical_step = static_cast<int>(s);
    }
  }
  plan.working_set = largest;
  plan.all_in_dram_budget = largest + plan.reserve;
  const auto page = std::uint64_t{4096};
  plan.min_budget = options.in_place ? plan.reserve + page : plan.all_in_dram_budget;
  if (plan.budget < plan.min_budget) {
    std::string where = liveness.steps.empty()
                            ? std::string("the pass")
                            : "step " + std::to_string(plan.critical_step) + " (" +
                                  op_label(graph, liveness, plan.critical_step) + ")";
    if (options.in_place)
      return Status(Errc::invalid_argument,
                    "DRAM budget " + format_bytes(plan.budget) + " is below the minimum feasible " +
                        format_bytes(plan.min_budget) + ": " + format_bytes(plan.reserve) +
                        " is reserved for op internals (scratchpad, reordered weights)");
    return Status(Errc::invalid_argument,
                  "DRAM budget " + format_bytes(plan.budget) + " is below the minimum feasible " +
                      format_bytes(plan.min_budget) + ": " + where + " needs " +
                      format_bytes(largest) +
                      " at once (its inputs, outputs and updated tensors) plus " +
                      format_bytes(plan.reserve) + " reserved for op internals");
  }
  plan.capacity = plan.budget - plan.reserve;

  // Steady state: a pass starts with the persistent tensors where the
  // previous pass left them. The first run from "all in DRAM" finds that.
  Simulation run(graph, liveness, plan.capacity, options);
  std::vector<char> resident(liveness.intervals.size(), 1);
  resident = run.run(resident, plan);
  run.run(resident, plan);
  plan.planned_peak = 0;
  for (std::uint64_t b : plan.dram_bytes) plan.planned_peak = std::max(plan.planned_peak, b);
  return plan;
}

namespace {

std::string spans_text(const std::vector<std::pair<int, int>>& spans) {
  std::string s;
  for (const auto& [from, to] : spans) {
    if (!s.empty()) s += ' ';
    s += std::to_string(from) + "-" + std::to_string(to);
  }
  return s.empty() ? "-" : s;
}

}  // namespace

std::string tier_plan_text(const graph::Graph& graph, const Liveness& l, const TierPlan& plan) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "budget %s (reserve %s for op internals), minimum feasible %s; every op on DRAM "
                "alone from %s (step %d); footprint if all-DRAM %s, planned DRAM peak %s\n"
                "per pass: demoted %s, prefetched %s, fetched on demand %s, used in place %s "
                "(outputs written there, not demoted: %s)\n\n",
                format_bytes(plan.budget).c_str(), format_bytes(plan.reserve).c_str(),
                format_bytes(plan.min_budget).c_str(), format_bytes(plan.all_in_dram_budget).c_str(),
                plan.critical_step, format_bytes(plan.footprint).c_str(),
                format_bytes(plan.planned_peak).c_str(), format_bytes(plan.bytes_demoted).c_str(),
                format_bytes(plan.bytes_prefetched).c_str(), format_bytes(plan.bytes_fetched).c_str(),
                format_bytes(plan.bytes_in_place).c_str(),
                format_bytes(plan.bytes_written_in_place).c_str());
  out += line;
  std::snprintf(line, sizeof line, "%-44s %-16s %12s %6s %6s  %s\n", "tensor", "kind", "bytes",
                "def", "last", "in PMem during steps");
  out += line;
  for (std::size_t i = 0; i < l.intervals.size(); ++i) {
    const Interval& iv = l.intervals[i];
    const graph::TensorInfo& t = graph.tensor(iv.tensor);
    std::snprintf(line, sizeof line, "%-44s %-16s %12llu %6s %6d  %s\n", t.name.c_str(),
                  graph::tensor_kind_name(t.kind), static_cast<unsigned long long>(iv.bytes),
                  iv.first == kBeforeStart ? "-" : std::to_string(iv.first).c_str(), iv.last,
                  spans_text(plan.pmem_spans[i]).c_str());
    out += line;
  }
  auto names = [&](const std::vector<TensorId>& ids) {
    std::string s;
    for (TensorId id : ids) s += (s.empty() ? "" : ", ") + graph.tensor(id).name;
    return s;
  };
  out += "\nstep  op  | DRAM bytes | actions\n";
  if (!plan.start_in_pmem.empty()) out += "start: demote " + names(plan.start_in_pmem) + "\n";
  for (std::size_t s = 0; s < plan.actions.size(); ++s) {
    const StepActions& a = plan.actions[s];
    std::string acts;
    if (!a.fetch.empty()) acts += " fetch before: " + names(a.fetch) + ";";
    if (!a.demote.empty()) acts += " demote after: " + names(a.demote) + ";";
    if (!a.in_place.empty()) acts += " in place: " + names(a.in_place) + ";";
    if (!a.prefetch.empty()) acts += " prefetch after: " + names(a.prefetch) + ";";
    std::snprintf(line, sizeof line, "%4zu %s | %s |", s,
                  op_label(graph, l, static_cast<int>(s)).c_str(),
                  format_bytes(plan.dram_bytes[s]).c_str());
    out += line + acts + "\n";
  }
  return out;
}

std::string tier_plan_json(const graph::Graph& graph, const Liveness& l, const TierPlan& plan) {
  using nlohmann::json;
  auto ids = [&](const std::vector<TensorId>& v) {
    json a = json::array();
    for (TensorId id : v) a.push_back(graph.tensor(id).name);
    return a;
  };
  json tensors = json::array();
  for (std::size_t i = 0; i < l.intervals.size(); ++i) {
    const Interval& iv = l.intervals[i];
    json spans = json::array();
    for (const auto& [from, to] : plan.pmem_spans[i]) spans.push_back({from, to});
    tensors.push_back({{"name", graph.tensor(iv.tensor).name},
                       {"kind", graph::tensor_kind_name(iv.kind)},
                       {"bytes", iv.bytes},
                       {"first", iv.first},
                       {"last", iv.last},
                       {"uses", iv.uses},
                       {"pmem_spans", spans}});
  }
  json steps = json::array();
  for (std::size_t s = 0; s < plan.actions.size(); ++s) {
    const graph::OpNode& op = graph.op(l.steps[s]);
    steps.push_back({{"step", s},
                     {"op", op.name},
                     {"kind", graph::op_kind_name(op.kind)},
                     {"dram_bytes", plan.dram_bytes[s]},
                     {"fetch_before", ids(plan.actions[s].fetch)},
                     {"demote_after", ids(plan.actions[s].demote)},
                     {"prefetch_after", ids(plan.actions[s].prefetch)},
                     {"in_place", ids(plan.actions[s].in_place)}});
  }
  json doc = {{"pass", pass_name(l.pass)},
              {"budget_bytes", plan.budget},
              {"reserve_bytes", plan.reserve},
              {"min_budget_bytes", plan.min_budget},
              {"working_set_bytes", plan.working_set},
              {"all_in_dram_budget_bytes", plan.all_in_dram_budget},
              {"critical_step", plan.critical_step},
              {"footprint_bytes", plan.footprint},
              {"naive_bytes", l.naive_bytes},
              {"planned_dram_peak_bytes", plan.planned_peak},
              {"bytes_demoted", plan.bytes_demoted},
              {"bytes_prefetched", plan.bytes_prefetched},
              {"bytes_fetched", plan.bytes_fetched},
              {"bytes_in_place", plan.bytes_in_place},
              {"bytes_written_in_place", plan.bytes_written_in_place},
              {"start_in_pmem", ids(plan.start_in_pmem)},
              {"tensors", tensors},
              {"steps", steps}};
  return doc.dump(1);
}

}  // namespace tensortier::runtime::plan
