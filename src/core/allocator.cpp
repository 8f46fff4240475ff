// The tiered allocator's public face (include/tensortier/allocator.hpp) on
// top of Allocator::Impl (allocator_impl.hpp).
#include "core/allocator_impl.hpp"

#include <sys/mman.h>

namespace tensortier {

// ---- Allocator --------------------------------------------------------------

Allocator::Allocator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Allocator::~Allocator() {
  if (!impl_) return;
  impl_->mover.reset();  // finish queued moves first
  if (impl_->options.promote_on_touch)
    detail::WriteBarrier::remove_range(reinterpret_cast<void*>(impl_->va->base()));
  if (const std::string& path = impl_->options.config.stats_path; !path.empty())
    write_stats_file(stats(), path);  // TENSORTIER_STATS
  std::lock_guard lk(impl_->mu);
  for (auto& [addr, b] : impl_->blocks) impl_->tiers[b.tier].tier.backend->release(b.extent);
  for (int t = 0; t < static_cast<int>(impl_->tiers.size()); ++t)
  {
    while (!impl_->tiers[t].cache.empty()) impl_->drop_cached(t, impl_->tiers[t].cache.begin());
    while (!impl_->tiers[t].spares.empty()) impl_->drop_spare(t, impl_->tiers[t].spares.begin());
  }
}

Result<std::unique_ptr<Allocator>> Allocator::create(AllocatorOptions options) {
  using R = Result<std::unique_ptr<Allocator>>;
  if (Status s = detail::WriteBarrier::install(); !s) return R(s);
  auto topology = Topology::load(options.config.topology_xml);
  if (!topology) {
    if (options.config.topology_xml.empty()) return R(topology.status());
    return R(topology.status().with_context("TENSORTIER_TOPOLOGY_XML='" +
                                            options.config.topology_xml + "'"));
  }
  auto plans = plan_tiers(options.config, *topology);
  if (!plans) return R(plans.status());
  auto opened = open_tiers(std::move(*plans));
  if (!opened) return R(opened.status());

  auto impl = std::make_unique<Impl>(std::move(options));
  std::uint64_t total = 0;
  for (auto& tier : *opened) {
    Impl::TierState state;
    state.info = tier.backend->info();
    state.fast = Impl::is_fast(state.info.kind);
    state.limit = tier.plan.limit_bytes;
    // Freed blocks are cached in fast tiers only; spares are kept in every tier.
    // Cached blocks and spares only hold budget nothing else wants: a full
    // tier recycles or drops them first. Capped so a process that freed much
    // does not keep it all — and under the LD_PRELOAD library (an unmodified
    // program's heap) at a quarter of the budget, as a heap keeps little.
    state.cache_limit = std::min<std::uint64_t>(
        options.promote_on_touch ? state.limit / 4 : state.limit, 1ULL << 30);
    if (state.info.alignment_bytes > detail::kHugePageBytes)
      return R(Status(Errc::not_supported,
                      state.info.name + ": extents aligned to " +
                          format_bytes(state.info.alignment_bytes) +
                          " are not supported (at most 2 MiB; e.g. a devdax namespace with "
                          "--align=2M)"));
    impl->block_granule = std::max<std::size_t>(impl->block_granule, state.info.alignment_bytes);
    state.tier = std::move(tier);
    total += state.limit;
    impl->infos.push_back(state.info);
    impl->tiers.push_back(std::move(state));
  }

  // Fast tiers nearest to each CPU first (HBM before DRAM at equal distance).
  const auto& targets = topology->targets();
  auto distance = [&](unsigned from_node, int to_node) -> std::uint64_t {
    const auto& d = topology->distances();
    int i = -1, j = -1;
    for (std::size_t k = 0; k < targets.size(); ++k) {
      if (targets[k].numa_node == from_node) i = static_cast<int>(k);
      if (static_cast<int>(targets[k].numa_node) == to_node) j = static_cast<int>(k);
    }
    if (i >= 0 && j >= 0 && static_cast<std::size_t>(i) < d.size() &&
        static_cast<std::size_t>(j) < d[i].size())
      return d[i][j];
    return from_node == static_cast<unsigned>(to_node) ? 10 : 20;
  };
  for (int t = 0; t < static_cast<int>(impl->tiers.size()); ++t)
    (impl->tiers[t].fast ? impl->default_fast_order : impl->slow_order).push_back(t);
  for (const auto& target : targets) {
    for (unsigned cpu : target.local_cpus) {
      std::vector<int> order = impl->default_fast_order;
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return distance(target.numa_node, impl->tiers[a].info.numa_node) <
               distance(target.numa_node, impl->tiers[b].info.numa_node);
      });
      impl->fast_order_by_cpu[static_cast<int>(cpu)] = order;
    }
  }

  auto space = AddressSpace::reserve(std::clamp<std::uint64_t>(2 * total, 1ULL << 30, 32ULL << 40));
  if (!space) return R(space.status());
  impl->va = std::move(*space);
  impl->policy = detail::make_policy(impl->options.policy);
  Impl* raw = impl.get();
  if (impl->options.promote_on_touch) {
    Status s = detail::WriteBarrier::add_range(reinterpret_cast<void*>(impl->va->base()),
                                               impl->va->bytes(), &Impl::resolve_touch, raw);
    if (!s) return R(s);
  }
  impl->mover = std::make_unique<detail::Mover>([raw](const MoveRequest& r) { raw->run_request(r); });
  for (int t = 0; t < static_cast<int>(impl->tiers.size()); ++t) impl->record_counter(t);
  return std::unique_ptr<Allocator>(new Allocator(std::move(impl)));
}

Result<std::unique_ptr<Allocator>> Allocator::from_env() {
  auto options = allocator_options_from_env(process_env());
  if (!options) return Result<std::unique_ptr<Allocator>>(options.status());
  return create(std::move(*options));
}

Result<void*> Allocator::try_allocate(std::size_t bytes, std::size_t alignment, Hint hint) {
  return impl_->allocate(bytes, alignment, hint);
}

void* Allocator::allocate(std::size_t bytes, std::size_t alignment, Hint hint) {
  auto p = try_allocate(bytes, alignment, hint);
  if (p) return *p;
  if (p.status().code() == Errc::invalid_argument)
    throw std::invalid_argument("tensortier: " + p.status().message());
  throw std::bad_alloc();
}

Status Allocator::deallocate(void* ptr) { return impl_->deallocate(ptr); }

Status Allocator::pin(void* ptr) {
  std::unique_lock lk(impl_->mu);
  Impl::Block* b = impl_->wait_still(lk, reinterpret_cast<std::uintptr_t>(ptr));
  if (b == nullptr) return impl_->not_a_block(ptr);
  b->last_use = ++impl_->tick;
  if (!impl_->tiers[b->tier].fast && impl_->policy->migrates()) {
    impl_->promote_locked(lk, *b);  // best effort: a pinned block may stay in PMem
    b = impl_->wait_still(lk, reinterpret_cast<std::uintptr_t>(ptr));
    if (b == nullptr) return impl_->not_a_block(ptr);
  }
  b->pins += 1;
  return Status::ok();
}

Status Allocator::unpin(void* ptr) {
  std::lock_guard lk(impl_->mu);
  Impl::Block* b = impl_->find_start(ptr);
  if (b == nullptr) return impl_->not_a_block(ptr);
  if (b->pins == 0)
    return Status(Errc::invalid_argument, "block " + Impl::pointer_text(ptr) + " is not pinned");
  b->pins -= 1;
  return Status::ok();
}

PinGuard Allocator::pin_guard(void* ptr) {
  if (Status s = pin(ptr); !s) throw std::invalid_argument("tensortier: " + s.message());
  return PinGuard(this, ptr);
}

Status Allocator::advise(void* ptr, Advice advice) {
  std::unique_lock lk(impl_->mu);
  Impl::Block* b = impl_->find_start(ptr);
  if (b == nullptr) return impl_->not_a_block(ptr);
  const auto addr = reinterpret_cast<std::uintptr_t>(ptr);
  switch (advice) {
    case Advice::hot: {
      b->last_use = ++impl_->tick;
      if (!impl_->policy->migrates()) return Status::ok();
      b = impl_->wait_still(lk, addr);
      if (b == nullptr || b->pins > 0) return Status::ok();
      return impl_->promote_locked(lk, *b);
    }
    case Advice::will_need:
      b->last_use = ++impl_->tick;
      if (impl_->policy->migrates() && !impl_->tiers[b->tier].fast)
        impl_->mover->enqueue({addr, MoveKind::promote, b->serial});
      return Status::ok();
    case Advice::cold:
    case Advice::wont_need:
      if (impl_->policy->migrates() && impl_->tiers[b->tier].fast)
        impl_->mover->enqueue({addr, MoveKind::demote, b->serial});
      return Status::ok();
  }
  return Status::ok();
}

Status Allocator::demote(void* ptr) { return impl_->move_now(ptr, /*promote=*/false); }

Status Allocator::promote(void* ptr) { return impl_->move_now(ptr, /*promote=*/true); }

void Allocator::wait_for_moves() { impl_->mover->wait_idle(); }

std::chrono::steady_clock::time_point Allocator::pmem_traffic_done(
    std::uint64_t read_bytes, std::uint64_t written_bytes,
    std::chrono::steady_clock::time_point start) {
  const OptaneThrottle& t = impl_->options.throttle;
  if (!t.enabled || read_bytes + written_bytes == 0) return start;
  return impl_->emulated_pmem.in_place(start, t.seconds(read_bytes, written_bytes));
}

Status Allocator::set_next_use(void* ptr, std::uint64_t step) {
  std::lock_guard lk(impl_->mu);
  Impl::Block* b = impl_->find_start(ptr);
  if (b == nullptr) return impl_->not_a_block(ptr);
  b->next_use = step;
  return Status::ok();
}

void Allocator::set_current_step(std::uint64_t step) {
  std::lock_guard lk(impl_->mu);
  impl_->current_step = step;
}

int Allocator::tier_of(const void* ptr) const {
  if (!owns(ptr)) return -1;
  std::lock_guard lk(impl_->mu);
  const Impl::Block* b = impl_->find_containing(ptr);
  return b == nullptr ? -1 : b->tier;
}

bool Allocator::owns(const void* ptr) const noexcept { return impl_->va->contains(ptr); }

std::size_t Allocator::block_bytes(const void* ptr) const {
  std::lock_guard lk(impl_->mu);
  const Impl::Block* b = impl_->find_start(ptr);
  return b == nullptr ? 0 : b->bytes;
}

const std::vector<TierInfo>& Allocator::tiers() const noexcept { return impl_->infos; }

Stats Allocator::stats() const {
  std::lock_guard lk(impl_->mu);
  Stats s;
  for (const auto& t : impl_->tiers)
    s.tiers.push_back({t.info.name, tier_kind_name(t.info.kind), t.limit, t.current, t.peak,
                       t.cached, t.blocks, t.peak_live});
  s.allocations = impl_->allocations;
  s.frees = impl_->frees;
  s.failed_allocations = impl_->failed_allocations;
  s.demotions = impl_->demotions;
  s.promotions = impl_->promotions;
  s.bytes_demoted = impl_->bytes_demoted;
  s.bytes_promoted = impl_->bytes_promoted;
  s.barrier_faults = impl_->barrier_faults.load();
  s.touch_faults = impl_->touch_faults;
  s.direct_accesses = impl_->direct_accesses;
  s.migration_seconds = impl_->migration_seconds;
  s.projected_optane_seconds = impl_->projected_optane_seconds;
  s.policy = policy_name(impl_->options.policy);
  return s;
}

Status Allocator::write_trace(const std::string& path) const { return impl_->trace.write(path); }

}  // namespace tensortier
