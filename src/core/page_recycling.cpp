// Page recycling in anonymous DRAM tiers (Allocator::Impl, allocator_impl.hpp).
//
// Under a tight budget the DRAM cache and spares are what must go to make
// room, and a new block would then fault in fresh pages the kernel zeroes
// (a fifth of a tiered training step's CPU time). Instead their pages are
// moved (mremap) into the new block: no zeroing, no page faults. A new block
// gets whatever bytes were there: blocks are never promised to be zero
// (calloc in the preload library zeroes what it reuses).
#include "core/allocator_impl.hpp"

namespace tensortier {

std::vector<Allocator::Impl::Donor> Allocator::Impl::take_donors(int t, std::size_t bytes,
                                                               std::size_t at_most,
                                                               bool several) {
  std::vector<Donor> donors;
  if (!recycles(t)) return donors;
  TierState& ts = tiers[t];
  // The smallest size that holds `bytes`; of that size the most recently
  // freed (warmest) cached block.
  auto c = ts.cache.lower_bound(bytes);
  if (c != ts.cache.end()) c = std::prev(ts.cache.upper_bound(c->first));
  auto sp = ts.spares.lower_bound(bytes);
  if (c != ts.cache.end() && c->first > at_most) c = ts.cache.end();
  if (sp != ts.spares.end() && sp->first > at_most) sp = ts.spares.end();
  if (c == ts.cache.end() && sp == ts.spares.end() && several) {
    for (std::size_t held = 0; held < bytes && (!ts.cache.empty() || !ts.spares.empty());) {
      const bool from_cache =
          !ts.cache.empty() &&
          (ts.spares.empty() || ts.cache.rbegin()->first >= ts.spares.rbegin()->first);
      held += from_cache ? ts.cache.rbegin()->first : ts.spares.rbegin()->first;
      take_donor(ts, from_cache ? std::prev(ts.cache.end()) : ts.cache.end(),
                 from_cache ? ts.spares.end() : std::prev(ts.spares.end()), donors);
    }
    return donors;
  }
  const bool use_cache = c != ts.cache.end() && (sp == ts.spares.end() || c->first <= sp->first);
  if (use_cache || sp != ts.spares.end())
    take_donor(ts, use_cache ? c : ts.cache.end(), use_cache ? ts.spares.end() : sp, donors);
  return donors;
}

std::vector<Allocator::Impl::Donor> Allocator::Impl::take_smaller_donors(int t,
                                                                       std::size_t bytes) {
  std::vector<Donor> donors;
  if (!recycles(t)) return donors;
  TierState& ts = tiers[t];
  for (std::size_t need = bytes; need >= detail::kHugePageBytes;) {
    // The largest cached block and spare no larger than what is missing.
    auto c = ts.cache.upper_bound(need);
    auto sp = ts.spares.upper_bound(need);
    const std::size_t cb = c == ts.cache.begin() ? 0 : std::prev(c)->first;
    const std::size_t sb = sp == ts.spares.begin() ? 0 : std::prev(sp)->first;
    const std::size_t size = std::max(cb, sb);
    const std::size_t used = size - size % detail::kHugePageBytes;  // place_pages: whole huge pages
    if (used == 0) break;
    take_donor(ts, cb >= sb ? std::prev(c) : ts.cache.end(),
               cb >= sb ? ts.spares.end() : std::prev(sp), donors);
    need -= std::min(need, used);
  }
  return donors;
}

void Allocator::Impl::take_donor(TierState& ts,
                               std::multimap<std::size_t, CachedBlock>::iterator c,
                               std::multimap<std::size_t, Spare>::iterator sp,
                               std::vector<Donor>& donors) {
  if (c != ts.cache.end()) {
    donors.push_back({c->second.extent, c->second.va, std::move(c->second.pieces)});
    ts.cached -= c->first;
    ts.cache.erase(c);
    return;
  }
  sp->second.make_writable();  // (anonymous tiers' spares already are)
  donors.push_back({sp->second.extent, std::nullopt, {}});
  ts.spare -= sp->first;
  ts.spares.erase(sp);
}

std::vector<HeldPages> Allocator::Impl::hold_pages(int t, std::vector<Donor>& donors, bool keep) {
  std::vector<HeldPages> held;
  for (Donor& d : donors) {
    if (keep && d.extent.addr != nullptr) {
      // A cached block's range is in ours (never a hole); a spare's is not.
      if (d.va) {
        for (const HeldPages& h : move_pages_out(d.extent.addr, d.extent.bytes, d.pieces, {}))
          held.push_back(h);
      } else if (void* out = take_pages(d.extent.addr, d.extent.bytes); out != nullptr) {
        held.push_back({out, d.extent.bytes});
        d.extent.addr = nullptr;  // a spare's mapping is gone with its pages
      }
    }
    if (d.va) {  // a cached block: reserve its range in ours again
      AddressSpace::reset(d.va->addr, d.extent.bytes);
      d.extent.addr = nullptr;
      tiers[t].tier.backend->release(d.extent);
      va->release(*d.va);
    } else {
      tiers[t].tier.backend->release(d.extent);
    }
  }
  donors.clear();
  return held;
}

void Allocator::Impl::keep_as_spares(int t, std::vector<HeldPages>& held) {
  if (held.empty()) return;
  Backend& backend = *tiers[t].tier.backend;
  std::uint64_t peak, limit;
  {
    std::lock_guard lk(mu);
    peak = tiers[t].peak;
    limit = tiers[t].limit;
  }
  auto has_been_full = [](std::uint64_t tier_peak, std::uint64_t tier_limit, std::size_t bytes) {
    return tier_peak + bytes > tier_limit;
  };
  for (const HeldPages& h : held) {
    // A tier that has never been full gives them back without adopting them
    // first (the all-DRAM case: one syscall, not three and the lock).
    // hold_pages released the donors: the backend counts kept pages again.
    Result<Extent> e = has_been_full(peak, limit, h.bytes)
                           ? backend.adopt(Extent{h.addr, h.bytes, 0})
                           : Result<Extent>(Errc::no_space, "not kept");
    if (!e) {
      (void)munmap(h.addr, h.bytes);
      continue;
    }
    std::unique_lock lk(mu);
    TierState& ts = tiers[t];
    if (has_been_full(ts.peak, ts.limit, h.bytes) && ts.spare + h.bytes <= ts.cache_limit &&
        ts.used() + h.bytes <= ts.limit) {
      ts.spares.emplace(h.bytes, Spare{*e, false});
      ts.spare += h.bytes;
      record_counter(t);
      continue;
    }
    lk.unlock();
    backend.release(*e);
  }
  held.clear();
}

Result<void*> Allocator::Impl::allocate_from_spare(std::unique_lock<std::mutex>& lk, int t,
                                                 std::size_t bytes, std::size_t alignment) {
  auto it = tiers[t].spares.find(bytes);
  if (it == tiers[t].spares.end()) return Result<void*>(Errc::no_space, "no spare");
  Spare spare = it->second;
  Extent e = spare.extent;
  tiers[t].spares.erase(it);
  tiers[t].spare -= bytes;
  tiers[t].reserved += bytes;
  lk.unlock();
  spare.make_writable();
  AddressSpace::Range range = va->allocate(bytes, alignment);
  Status mapped = range.addr == nullptr ? Status(Errc::no_space, "virtual range exhausted")
                                        : tiers[t].tier.backend->move(e, range.addr);
  if (!mapped) {
    if (range.addr != nullptr) {
      AddressSpace::reset(range.addr, bytes);
      va->release(range);
    }
    tiers[t].tier.backend->release(e);
  }
  lk.lock();
  tiers[t].reserved -= bytes;
  if (!mapped) return Result<void*>(mapped);
  tiers[t].current += bytes;
  return insert_block(t, range, e);
}

}  // namespace tensortier
