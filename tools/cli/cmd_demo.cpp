// `tensortier demo`: allocates more than the DRAM budget in blocks and, when
// DRAM is full, spills the oldest block to the PMem tier at the same address
// (copy into a PMem extent, then move that mapping over the block). Every
// block is checked afterwards at its original address. The core allocator
// does this with policies and a mover thread; this shows the primitive.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>

#include "commands.hpp"

namespace tensortier::cli {
namespace {

struct Block {
  Extent extent;
  void* addr = nullptr;  // stable for the block's life
  Backend* tier = nullptr;
};

std::uint64_t pattern(std::size_t block, std::size_t word) {
  return (static_cast<std::uint64_t>(block) << 40) ^ (word * 0x9E3779B97F4A7C15ULL);
}

void fill(void* addr, std::size_t bytes, std::size_t block) {
  auto* words = static_cast<std::uint64_t*>(addr);
  for (std::size_t i = 0; i < bytes / 8; ++i) words[i] = pattern(block, i);
}

bool check(const void* addr, std::size_t bytes, std::size_t block) {
  const auto* words = static_cast<const std::uint64_t*>(addr);
  for (std::size_t i = 0; i < bytes / 8; ++i)
    if (words[i] != pattern(block, i)) return false;
  return true;
}

// Moves `b` from DRAM into `pmem` without changing b.addr.
Status spill(Block& b, Backend& pmem) {
  auto copy = pmem.allocate(b.extent.bytes);
  if (!copy) return copy.status();
  Status s = pmem.copy_in(*copy, 0, b.addr, b.extent.bytes);
  if (s) s = pmem.move(*copy, b.addr);  // replaces the DRAM pages in one step
  if (!s) {
    pmem.release(*copy);
    return s;
  }
  b.extent.addr = nullptr;  // already unmapped by the move
  b.tier->release(b.extent);
  b.extent = *copy;
  b.tier = &pmem;
  return Status::ok();
}

}  // namespace

int run_demo(Config config, const DemoOptions& options) {
  if (options.dram_limit_bytes) config.dram_limit_bytes = options.dram_limit_bytes;
  if (!config.dram_limit_bytes) config.dram_limit_bytes = 64ULL << 20;
  if (config.pmem.scheme == PmemSpec::Scheme::none)
    return fail(Status(Errc::invalid_argument,
                       "TENSORTIER_PMEM='none': the demo spills to PMem; accepted: "
                       "file:/dir[,size=N], devdax:/dev/daxX.Y, kmem, or unset"));
  if (options.block_bytes == 0 || options.total_bytes < options.block_bytes)
    return fail(Status(Errc::invalid_argument, "--bytes must be at least --block"));

  auto topology = load_topology(config);
  if (!topology) return fail(topology.status());
  if (topology->source() != "live")
    return fail(Status(Errc::invalid_argument,
                       "the demo runs on this machine; unset TENSORTIER_TOPOLOGY_XML"));
  auto plans = plan_tiers(config, *topology);
  if (!plans) return fail(plans.status());
  auto tiers = open_tiers(std::move(*plans));
  if (!tiers) return fail(tiers.status());
  Tier* dram = nullptr;
  Tier* pmem = nullptr;
  for (auto& t : *tiers) {
    if (!dram && t.plan.kind == TierKind::dram) dram = &t;
    if (t.plan.kind == TierKind::pmem_file || t.plan.kind == TierKind::pmem_devdax ||
        t.plan.kind == TierKind::pmem_kmem)
      pmem = &t;
  }
  if (dram == nullptr || pmem == nullptr)
    return fail(Status(Errc::internal, "demo needs a DRAM and a PMem tier"));
  const std::uint64_t dram_budget = dram->plan.limit_bytes;

  std::printf("demo: %s in %s blocks, DRAM budget %s on %s, PMem tier %s (%s, %s granularity)\n",
              format_bytes(options.total_bytes).c_str(), format_bytes(options.block_bytes).c_str(),
              format_bytes(dram_budget).c_str(), dram->plan.name.c_str(),
              pmem->plan.name.c_str(), pmem->backend->info().medium.c_str(),
              pmem->backend->info().granularity.c_str());

  using Clock = std::chrono::steady_clock;
  std::deque<Block*> in_dram;  // oldest first: the spill victims
  std::vector<Block> blocks(options.total_bytes / options.block_bytes);
  std::uint64_t spilled_bytes = 0;
  double spill_seconds = 0;
  int code = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    while (dram->backend->used_bytes() + options.block_bytes > dram_budget && !in_dram.empty()) {
      Block* victim = in_dram.front();
      const auto t0 = Clock::now();
      if (Status s = spill(*victim, *pmem->backend); !s) {
        code = fail(s.with_context("spilling a block to " + pmem->plan.name));
        break;
      }
      spill_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      spilled_bytes += victim->extent.bytes;
      in_dram.pop_front();
    }
    if (code != 0) break;
    auto extent = dram->backend->allocate(options.block_bytes);
    if (!extent) {
      code = fail(extent.status().with_context("allocating block " + std::to_string(i)));
      break;
    }
    blocks[i] = Block{*extent, extent->addr, dram->backend.get()};
    fill(blocks[i].addr, options.block_bytes, i);
    in_dram.push_back(&blocks[i]);
  }

  std::size_t intact = 0, in_pmem = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].tier == nullptr) continue;
    intact += check(blocks[i].addr, options.block_bytes, i) ? 1 : 0;
    in_pmem += blocks[i].tier == pmem->backend.get() ? 1 : 0;
  }
  const std::size_t allocated = blocks.size() - std::count_if(blocks.begin(), blocks.end(),
                                                              [](const Block& b) { return !b.tier; });
  const double gbps = spill_seconds > 0 ? spilled_bytes / spill_seconds / 1e9 : 0;
  std::printf("spilled %zu blocks (%s) to %s at the same address, %.2f GB/s; %zu blocks in DRAM\n",
              in_pmem, format_bytes(spilled_bytes).c_str(), pmem->plan.name.c_str(), gbps,
              allocated - in_pmem);
  std::printf("verified %zu/%zu blocks at their original addresses: %s\n", intact, allocated,
              intact == allocated ? "all intact" : "CORRUPTED");
  if (!options.json_path.empty()) {
    nlohmann::json doc = {{"blocks", allocated},
                          {"block_bytes", options.block_bytes},
                          {"dram_limit_bytes", dram_budget},
                          {"dram_used_bytes", dram->backend->used_bytes()},
                          {"pmem_used_bytes", pmem->backend->used_bytes()},
                          {"spilled_blocks", in_pmem},
                          {"spilled_bytes", spilled_bytes},
                          {"spill_gbps", gbps},
                          {"intact_blocks", intact}};
    if (!write_json(options.json_path, doc) && code == 0) code = 1;
  }
  for (auto& b : blocks)
    if (b.tier) b.tier->release(b.extent);
  if (code == 0 && intact != allocated) code = 1;
  return code;
}

}  // namespace tensortier::cli
