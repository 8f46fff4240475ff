// The tiered allocator's private state (Allocator::Impl): block table,
// budgets, placement, eviction and stable-address migration. One mutex guards
// the metadata; copies run without it, with the block marked `moving` (so
// nobody frees or moves it meanwhile) and its pages behind the write barrier.
// allocator.cpp has the public Allocator on top of it; page_recycling.cpp the
// reuse of freed pages (donors, spares).
#pragma once

#include "tensortier/allocator.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/address_space.hpp"
#include "core/emulated_pmem.hpp"
#include "core/mover.hpp"
#include "core/page_moves.hpp"
#include "core/policy.hpp"
#include "core/trace.hpp"
#include "core/write_barrier.hpp"
#include "tensortier/tiers.hpp"

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer cannot see the write barrier's synchronization: writers are
// stopped by mprotect, and after the move they write to new pages mapped at
// the same address (TSan tracks memory by virtual address only). Left
// checked, the copy's reads are reported as a race per word, and building
// those reports (even suppressed ones) stretches one move to seconds. The
// copy is therefore not checked; everything else in the mover still is.
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#define TT_TSAN_IGNORE_BEGIN() __tsan_ignore_thread_begin()
#define TT_TSAN_IGNORE_END() __tsan_ignore_thread_end()
#else
#define TT_TSAN_IGNORE_BEGIN() ((void)0)
#define TT_TSAN_IGNORE_END() ((void)0)
#endif

namespace tensortier {

using detail::AddressSpace;
using detail::Candidate;
using detail::HeldPages;
using detail::kNoNextUse;
using detail::move_pages_in;
using detail::move_pages_out;
using detail::MoveKind;
using detail::MoveRequest;
using detail::Pieces;
using detail::place_pages;
using detail::take_pages;
using Clock = std::chrono::steady_clock;

struct Allocator::Impl {
  static std::size_t page_bytes() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }
  static bool is_fast(TierKind kind) { return kind == TierKind::dram || kind == TierKind::hbm; }
  static std::string pointer_text(const void* p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%p", p);
    return buf;
  }

  struct Block {
    std::uintptr_t addr = 0;
    std::size_t bytes = 0;  // mapped, page rounded
    AddressSpace::Range va;
    int tier = 0;
    Extent extent;
    int pins = 0;
    bool moving = false;
    bool guarded = false;  // demoted and PROT_NONE: the next touch faults (promote_on_touch)
    std::uint64_t last_use = 0;
    std::uint64_t next_use = kNoNextUse;
    Clock::time_point demoted_at{};  // end of the last demotion (promote_on_touch thrash guard)
    double move_seconds = 0;         // how long the last move of this block took
    std::uint64_t serial = 0;        // the allocator's n-th allocation (queued moves check it)
    Pieces pieces;  // its mappings when its pages came from several freed blocks (page_moves.hpp)
  };
  // A freed DRAM block kept mapped (pages already faulted) for reuse.
  struct CachedBlock {
    AddressSpace::Range va;
    Extent extent;
    Pieces pieces;
  };
  // An extent whose pages a migration or a free left mapped outside the
  // virtual range. A shared file mapping's pages keep the write barrier's
  // PROT_READ until the spare is used: a write-protect pass walks every page
  // table entry (~140 us per 16 MiB of 4 KiB file pages), and a spare that is
  // dropped never needs it.
  struct Spare {
    Extent extent;
    bool read_only = false;
    void make_writable() {
      if (read_only && extent.addr != nullptr)
        (void)mprotect(extent.addr, extent.bytes, PROT_READ | PROT_WRITE);
      read_only = false;
    }
  };
  struct TierState {
    Tier tier;
    TierInfo info;
    bool fast = false;
    std::uint64_t limit = 0;
    std::uint64_t current = 0;   // live blocks
    std::uint64_t cached = 0;    // freed, kept mapped
    std::uint64_t reserved = 0;  // budget taken by allocations and moves in flight
    std::uint64_t spare = 0;     // pre-faulted extents left by migrations, for the next one
    std::uint64_t peak = 0;
    std::uint64_t peak_live = 0;  // highest `current` alone
    std::uint64_t blocks = 0;
    std::uint64_t cache_limit = 0;  // for cached blocks, and again for spares
    std::multimap<std::size_t, CachedBlock> cache;  // by bytes
    // Migration ping-pong: a move leaves the source pages (already faulted in)
    // mapped outside the virtual range; the next move into this tier copies
    // into them instead of faulting in fresh pages. Counted against the limit.
    std::multimap<std::size_t, Spare> spares;  // by bytes

    std::uint64_t used() const { return current + cached + reserved + spare; }
    void note_peak() {
      peak = std::max(peak, used());
      peak_live = std::max(peak_live, current);
    }
  };

  AllocatorOptions options;
  std::vector<TierState> tiers;
  std::vector<TierInfo> infos;
  std::vector<int> slow_order;                       // PMem tiers in plan order
  std::map<int, std::vector<int>> fast_order_by_cpu;  // cpu -> fast tiers, nearest first
  std::vector<int> default_fast_order;
  // Blocks are multiples of (and aligned to) every tier's extent alignment, so
  // a block fits any tier exactly: a devdax extent is 2 MiB aligned, and a
  // 4 KiB block mapped there would overlap its neighbours' addresses.
  std::size_t block_granule = 0;
  std::unique_ptr<AddressSpace> va;
  std::unique_ptr<detail::EvictionPolicy> policy;
  detail::TraceRecorder trace;

  mutable std::mutex mu;
  std::condition_variable moved;
  std::map<std::uintptr_t, Block> blocks;
  std::uint64_t tick = 0;
  std::uint64_t current_step = 0;

  std::atomic<std::uint64_t> barrier_faults{0};
  std::uint64_t touch_faults = 0, direct_accesses = 0;
  std::uint64_t allocations = 0, frees = 0, failed_allocations = 0;
  std::uint64_t demotions = 0, promotions = 0, bytes_demoted = 0, bytes_promoted = 0;
  double migration_seconds = 0, projected_optane_seconds = 0;
  // Optane emulation: the DIMMs' time, shared by migrations and in-place use.
  detail::EmulatedPmem emulated_pmem;

  std::unique_ptr<detail::Mover> mover;  // last: stops first

  explicit Impl(AllocatorOptions o) : options(std::move(o)), trace(options.record_trace) {}

  // ---- lookup -------------------------------------------------------------

  Block* find_start(const void* ptr) {
    auto it = blocks.find(reinterpret_cast<std::uintptr_t>(ptr));
    return it == blocks.end() ? nullptr : &it->second;
  }

  // The block containing ptr (interior pointers too).
  Block* find_containing(const void* ptr) {
    const auto p = reinterpret_cast<std::uintptr_t>(ptr);
    auto it = blocks.upper_bound(p);
    if (it == blocks.begin()) return nullptr;
    --it;
    return p < it->second.addr + it->second.bytes ? &it->second : nullptr;
  }

  Status not_a_block(const void* ptr) const {
    if (va->contains(ptr))
      return Status(Errc::invalid_argument,
                    "pointer " + pointer_text(ptr) +
                        " is not the start of a live block (double free, or an interior pointer)");
    return Status(Errc::invalid_argument,
                  "pointer " + pointer_text(ptr) + " was not allocated by this allocator");
  }

  // The live block starting at addr once it is not moving; nullptr when there is none.
  Block* wait_still(std::unique_lock<std::mutex>& lk, std::uintptr_t addr) {
    for (;;) {
      auto it = blocks.find(addr);
      if (it == blocks.end()) return nullptr;
      if (!it->second.moving) return &it->second;
      moved.wait(lk);
    }
  }

  // ---- tiers ----------------------------------------------------------------

  const std::vector<int>& fast_order() const {
    if (options.numa_local_first) {
      const int cpu = sched_getcpu();
      auto it = fast_order_by_cpu.find(cpu);
      if (it != fast_order_by_cpu.end()) return it->second;
    }
    return default_fast_order;
  }

  bool fits(int t, std::size_t bytes) const {
    return tiers[t].used() + bytes <= tiers[t].limit;
  }

  // Whether `bytes` fit in tier t once its cached blocks and spares give
  // their pages to them (a recycling tier: take_donors(..., several)).
  bool fits_recycling(int t, std::size_t bytes) const {
    const TierState& ts = tiers[t];
    return fits(t, bytes) || (recycles(t) && ts.used() - ts.cached - ts.spare + bytes <= ts.limit);
  }

  void record_counter(int t) {
    if (trace.enabled()) trace.counter(tiers[t].info.name, tiers[t].current + tiers[t].cached);
  }

  std::string occupancy_text() const {
    std::string text;
    for (const auto& t : tiers) {
      if (!text.empty()) text += ", ";
      text += t.info.name + " " + format_bytes(t.used()) + " of " + format_bytes(t.limit);
    }
    return text;
  }

  // Unmaps a cached block (under mu: short syscalls only).
  void drop_cached(int t, std::multimap<std::size_t, CachedBlock>::iterator it) {
    CachedBlock c = it->second;
    tiers[t].cache.erase(it);
    tiers[t].cached -= c.extent.bytes;
    AddressSpace::reset(c.va.addr, c.extent.bytes);
    c.extent.addr = nullptr;
    tiers[t].tier.backend->release(c.extent);
    va->release(c.va);
  }

  // Makes room for `bytes` in fast tier t: drops cached blocks, then demotes
  // victims by policy. Victims whose next use comes before `protect_next_use`
  // are kept (a prefetch must not evict what is needed sooner). Returns with
  // the lock held and true when the bytes fit — with `recycle`, when they fit
  // once the cached blocks and spares (the victims' pages among them) are
  // taken as donors, which the caller then does instead of dropping them.
  bool make_room(std::unique_lock<std::mutex>& lk, int t, std::size_t bytes,
                 std::uintptr_t exclude, std::uint64_t protect_next_use = 0,
                 bool recycle = false) {
    for (;;) {
      if (recycle ? fits_recycling(t, bytes) : reclaim(t, bytes)) return true;
      if (!policy->migrates()) return false;

      std::vector<Candidate> candidates;
      bool moving_out = false;
      // Budget that evicting every candidate (and finishing every move out)
      // would give: when even that is too little, evict nothing. (Without
      // this check an impossible request, e.g. bigger than the tier, demoted
      // every DRAM block before failing.)
      const std::uint64_t held =
          tiers[t].used() - (recycle ? tiers[t].cached + tiers[t].spare : 0);
      std::uint64_t obtainable = tiers[t].limit - std::min(tiers[t].limit, held);
      for (auto& [addr, b] : blocks) {
        if (b.tier != t || addr == exclude) continue;
        if (b.moving) {
          moving_out = true;
          obtainable += b.bytes;
          continue;
        }
        if (b.pins > 0) continue;
        const std::uint64_t next =
            b.next_use < current_step ? kNoNextUse : b.next_use;
        if (protect_next_use != 0 && next <= protect_next_use) continue;
        candidates.push_back({addr, b.bytes, b.last_use, b.next_use});
        obtainable += b.bytes;
      }
      if (obtainable < bytes) return false;
      policy->order(candidates, current_step);
      if (candidates.empty()) {
        if (!moving_out) return false;
        moved.wait(lk);  // a move out of t will free budget
        continue;
      }
      Block& victim = blocks.at(candidates.front().addr);
      const int dst = slow_tier_for(victim.bytes);
      if (dst < 0) return false;
      victim.moving = true;
      move_block(lk, victim, dst);  // failure leaves the victim where it was
      if (victim.tier == t && !victim.moving) {
        // The move failed: do not spin on the same victim.
        if (!fits(t, bytes)) return false;
      }
    }
  }

  // Drops tier t's cached blocks and spare extents until `bytes` fit; true
  // when they do. Both are the allocator's own reserve and count against the
  // budget, so every path that finds a tier full must call this before giving
  // up (a cache or a spare must never make an allocation or a move fail).
  bool reclaim(int t, std::size_t bytes) {
    while (!fits(t, bytes) && !tiers[t].cache.empty())
      drop_cached(t, std::prev(tiers[t].cache.end()));
    while (!fits(t, bytes) && !tiers[t].spares.empty())
      drop_spare(t, std::prev(tiers[t].spares.end()));
    return fits(t, bytes);
  }

  int slow_tier_for(std::size_t bytes) {
    for (int s : slow_order)
      if (fits(s, bytes) || has_spare(s, bytes)) return s;
    for (int s : slow_order)  // PMem spares left by promotions are dropped for it
      if (reclaim(s, bytes)) return s;
    return -1;
  }

  bool has_spare(int t, std::size_t bytes) const { return tiers[t].spares.count(bytes) > 0; }

  // Under mu: short syscalls only.
  void drop_spare(int t, std::multimap<std::size_t, Spare>::iterator it) {
    Extent e = it->second.extent;
    tiers[t].spares.erase(it);
    tiers[t].spare -= e.bytes;
    tiers[t].tier.backend->release(e);
  }

  // ---- migration --------------------------------------------------------------

  // Moves b to tier dst at the same address. Preconditions (under lk): b.moving
  // set by the caller, and dst fits b, has a spare of its size, or fits it
  // once its cached blocks and spares give their pages (fits_recycling).
  // Reserves the budget, and releases lk during the copy.
  Status move_block(std::unique_lock<std::mutex>& lk, Block& b, int dst) {
    const int src = b.tier;
    const std::size_t bytes = b.bytes;
    void* addr = reinterpret_cast<void*>(b.addr);
    Backend& to = *tiers[dst].tier.backend;
    Backend& from = *tiers[src].tier.backend;
    // Between NUMA-node tiers (DRAM <-> KMEM-DAX) the kernel moves the pages
    // in place (Backend::adopt): no copy, no write barrier, no spare.
    const bool rebind = anonymous(src) && anonymous(dst);
    std::optional<Spare> spare;
    std::vector<Donor> donors;
    if (auto it = tiers[dst].spares.find(bytes); !rebind && it != tiers[dst].spares.end()) {
      spare = it->second;
      tiers[dst].spares.erase(it);
      tiers[dst].spare -= bytes;
    } else if (!rebind) {
      donors = take_donors(dst, bytes, kAnySize, !fits(dst, bytes));
    }
    // The caller may count on dst's cached blocks and spares making room
    // (fits_recycling) that this move did not take: they go now.
    reclaim(dst, bytes);
    tiers[dst].reserved += bytes;
    tiers[dst].note_peak();
    const bool was_guarded = b.guarded;
    const bool guard_after_move = options.promote_on_touch && !tiers[dst].fast;
    lk.unlock();

    const double start_us = trace.now_us();
    const auto t0 = Clock::now();
    Status status;
    std::vector<HeldPages> old_pages;
    Pieces fresh_pieces;  // recycled pages of several freed blocks (anonymous dst only)
    // b.extent: only the mover touches it while b is moving.
    Result<Extent> fresh = rebind ? to.adopt(b.extent) : Result<Extent>(Errc::not_supported, "");
    const bool rebound = fresh.has_value();
    if (rebound) {
      if (guard_after_move != was_guarded)
        mprotect(addr, bytes, guard_after_move ? PROT_NONE : PROT_READ | PROT_WRITE);
      throttle(bytes, tiers[dst].fast, t0);
    } else {
      // A copy: file PMem; or the kernel could not move every page (pages
      // shared with a forked child), and the ones it moved stay where they are.
      std::vector<HeldPages> held = hold_pages(dst, donors, true);
      if (spare) spare->make_writable();
      fresh = spare ? Result<Extent>(spare->extent)
                    : to.allocate(bytes, AllocateOptions{nullptr, held.empty()});
      if (!fresh) status = fresh.status();
      fresh_pieces = place_pages(fresh ? fresh->addr : nullptr, bytes, held);
      keep_as_spares(dst, held);
    }
    if (status && !rebound) {
      int slot;
      while ((slot = detail::WriteBarrier::begin(addr, bytes, &barrier_faults)) < 0)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      TT_TSAN_IGNORE_BEGIN();
      status = to.copy_in(*fresh, 0, addr, bytes, Backend::Persist::no);
      TT_TSAN_IGNORE_END();
      if (status) throttle(bytes, tiers[dst].fast, t0);
      // Anonymous pages get their write access back at once (they may become
      // donors); a file mapping's only when the spare is used (Spare).
      if (status)
        old_pages =
            move_pages_out(addr, bytes, b.pieces,
                           {.guard_readers = anonymous(src), .restore_write = anonymous(src)});
      if (status) status = move_extent(to, *fresh, fresh_pieces, addr);
      if (status && guard_after_move) mprotect(addr, bytes, PROT_NONE);  // before writers resume
      if (!status) {
        (void)move_pages_in(old_pages, addr);
        old_pages.clear();
        mprotect(addr, bytes, was_guarded ? PROT_NONE : PROT_READ | PROT_WRITE);
      }
      detail::WriteBarrier::end(slot);
      if (!status) to.release(*fresh);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

    lk.lock();
    tiers[dst].reserved -= bytes;
    std::vector<Extent> to_release;
    if (status) {
      Extent old = b.extent;  // only the mover touches b.extent while moving
      b.extent = *fresh;
      b.tier = dst;
      b.guarded = guard_after_move;
      if (!rebound) b.pieces = std::move(fresh_pieces);
      tiers[src].current -= bytes;
      tiers[src].blocks -= 1;
      if (old_pages.empty()) {
        old.addr = nullptr;  // its mapping was replaced by the move (or adopted)
        to_release.push_back(old);
      }
      std::uint64_t offset = old.offset;
      for (const HeldPages& h : old_pages) {  // each piece is a spare, or goes
        const Extent piece{h.addr, h.bytes, offset};
        offset += h.bytes;
        if (tiers[src].spare + h.bytes <= tiers[src].cache_limit) {
          tiers[src].spares.emplace(h.bytes, Spare{piece, !anonymous(src)});
          tiers[src].spare += h.bytes;
        } else {
          to_release.push_back(piece);
        }
      }
      tiers[dst].current += bytes;
      tiers[dst].blocks += 1;
      tiers[dst].note_peak();
      migration_seconds += seconds;
      projected_optane_seconds += optane_seconds(bytes, tiers[dst].fast);
      b.move_seconds = seconds;
      if (tiers[dst].fast) {
        promotions += 1;
        bytes_promoted += bytes;
      } else {
        demotions += 1;
        bytes_demoted += bytes;
        b.demoted_at = Clock::now();
      }
      record_counter(src);
      record_counter(dst);
      trace.migration(tiers[src].info.name, tiers[dst].info.name, bytes, start_us, trace.now_us(),
                      b.addr);
    }
    if (!to_release.empty()) {
      // Its budget is already given back; the storage goes outside the lock.
      // b stays `moving` meanwhile, so nobody frees it under the caller's feet.
      lk.unlock();
      for (Extent& e : to_release) from.release(e);
      lk.lock();
    }
    b.moving = false;
    moved.notify_all();
    return status;
  }

  // A promotion reads PMem, a demotion writes it.
  double optane_seconds(std::size_t bytes, bool promote) const {
    return options.throttle.seconds(promote ? bytes : 0, promote ? 0 : bytes);
  }

  // Optane emulation: a copy takes at least as long as it would on Optane,
  // one at a time on the DIMMs.
  void throttle(std::size_t bytes, bool promote, Clock::time_point start) {
    if (!options.throttle.enabled) return;
    std::this_thread::sleep_until(emulated_pmem.migrate(start, optane_seconds(bytes, promote)));
  }

  // Maps `extent` of `to` at addr. An extent made of recycled pages of several
  // freed blocks (`pieces`, anonymous memory only) moves mapping by mapping:
  // one mremap moves within one mapping only (Linux before 6.17).
  static Status move_extent(Backend& to, Extent& extent, const Pieces& pieces, void* addr) {
    if (pieces.empty()) return to.move(extent, addr);
    if (!move_pages_in(detail::pieces_at(extent.addr, pieces), addr))
      return Status(Errc::no_space, to.info().name + ": moving " + std::to_string(pieces.size()) +
                                        " recycled mappings into place failed");
    extent.addr = addr;
    return Status::ok();
  }

  // Promotes b (not moving, under lk) into the first fast tier that has, or
  // can make, room. Ok and unchanged when already fast.
  Status promote_locked(std::unique_lock<std::mutex>& lk, Block& b,
                        std::uint64_t protect_next_use = 0) {
    if (tiers[b.tier].fast) return Status::ok();
    const std::uintptr_t addr = b.addr;
    const std::size_t bytes = b.bytes;  // b may go while make_room unlocks
    for (int t : fast_order()) {
      // make_room reclaims the cache and spares under every policy, and only
      // then evicts (never under the static policy).
      if (!fits_recycling(t, bytes) && !has_spare(t, bytes) &&
          !make_room(lk, t, bytes, addr, protect_next_use, /*recycle=*/true))
        continue;
      Block* again = wait_still(lk, addr);  // make_room released the lock
      if (again == nullptr) return Status(Errc::invalid_argument, "block freed while promoting");
      if (tiers[again->tier].fast) return Status::ok();
      if (!fits_recycling(t, again->bytes) && !has_spare(t, again->bytes)) continue;
      again->moving = true;
      return move_block(lk, *again, t);
    }
    return Status(Errc::no_space, "no DRAM tier has room to promote " + format_bytes(bytes) +
                                      " (" + occupancy_text() + ")");
  }

  Status demote_locked(std::unique_lock<std::mutex>& lk, Block& b) {
    if (!tiers[b.tier].fast) return Status::ok();
    const int dst = slow_tier_for(b.bytes);
    if (dst < 0)
      return Status(Errc::no_space, "no PMem tier has room to demote " + format_bytes(b.bytes) +
                                        " (" + occupancy_text() + ")");
    b.moving = true;
    return move_block(lk, b, dst);
  }

  // Synchronous demote/promote of the block starting at ptr.
  Status move_now(void* ptr, bool to_fast) {
    std::unique_lock lk(mu);
    Block* b = wait_still(lk, reinterpret_cast<std::uintptr_t>(ptr));
    if (b == nullptr) return not_a_block(ptr);
    if (b->pins > 0)
      return Status(Errc::invalid_argument, "block " + pointer_text(ptr) + " is pinned");
    return to_fast ? promote_locked(lk, *b) : demote_locked(lk, *b);
  }

  // promote_on_touch: a thread touched a guarded (demoted) block. Runs in the
  // SIGSEGV handler of that thread; the library never touches block memory
  // while holding mu, so taking it here cannot deadlock.
  static bool resolve_touch(void* context, void* addr) {
    return static_cast<Impl*>(context)->on_touch(addr);
  }

  bool on_touch(void* ptr) {
    std::unique_lock lk(mu);
    Block* b = find_containing(ptr);
    if (b == nullptr) return false;  // not a live block: the previous handler decides
    const std::uintptr_t start = b->addr;
    b = wait_still(lk, start);
    if (b == nullptr || !b->guarded) return true;  // freed or already resolved: retry
    touch_faults += 1;
    b->last_use = ++tick;
    // Touched again moments after its demotion (within 4x the time the move
    // took): the working set is larger than DRAM, and promoting it would
    // demote a block in use that is touched right back — a livelock (seen with
    // PyTorch's elementwise kernels over 3 tensors with room for 2). Such a
    // block is used in place, below; migration stays under ~1/4 of the time.
    const bool thrashing = Clock::now() - b->demoted_at <
                           std::chrono::duration<double>(4 * std::max(b->move_seconds, 1e-4));
    if (policy->migrates() && !thrashing) promote_locked(lk, *b);
    b = wait_still(lk, start);
    if (b != nullptr && b->guarded) {
      // DRAM cannot make room: let the thread use the PMem pages directly.
      mprotect(reinterpret_cast<void*>(b->addr), b->bytes, PROT_READ | PROT_WRITE);
      b->guarded = false;
      direct_accesses += 1;
    }
    return true;
  }

  void run_request(const MoveRequest& request) {
    std::unique_lock lk(mu);
    Block* b = wait_still(lk, request.addr);
    if (b == nullptr || b->serial != request.serial || b->pins > 0) return;  // freed: canceled
    if (request.kind == MoveKind::promote) {
      const std::uint64_t next = b->next_use == kNoNextUse ? 0 : b->next_use;
      promote_locked(lk, *b, next);
    } else {
      demote_locked(lk, *b);
    }
  }

  // ---- allocation -------------------------------------------------------------

  Result<void*> allocate(std::size_t bytes, std::size_t alignment, Hint hint) {
    const std::size_t page = page_bytes();
    if (bytes == 0) return Result<void*>(Errc::invalid_argument, "cannot allocate 0 bytes");
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > detail::kHugePageBytes)
      return Result<void*>(Errc::invalid_argument,
                           "alignment " + std::to_string(alignment) +
                               " is not a power of two up to 2 MiB");
    if (bytes > (std::size_t{1} << 62))
      return Result<void*>(Errc::invalid_argument,
                           "size " + std::to_string(bytes) + " bytes is too large");
    const std::size_t granule = std::max(page, block_granule);
    const std::size_t mapped = (bytes + granule - 1) / granule * granule;
    // Blocks of 2 MiB or more start on a 2 MiB boundary, so transparent huge
    // pages cover them whole and survive being moved in with mremap (pages
    // moved to an address of another offset modulo 2 MiB are split to 4 KiB).
    const std::size_t va_alignment =
        std::max({alignment, granule, mapped >= detail::kHugePageBytes ? detail::kHugePageBytes
                                                                        : std::size_t{1}});

    std::vector<int> order = fast_order();
    order.insert(hint == Hint::cold ? order.begin() : order.end(), slow_order.begin(),
                 slow_order.end());

    std::unique_lock lk(mu);
    // Reuse a cached block of the same size in the preferred tier: no syscall,
    // pages already faulted. The most recently freed first (its lines may
    // still be in the CPU caches; equal keys keep their insertion order).
    if (const int t = order.front(); tiers[t].fast) {
      auto [first, last] = tiers[t].cache.equal_range(mapped);
      for (auto rit = std::make_reverse_iterator(last); rit != std::make_reverse_iterator(first);
           ++rit) {
        if (reinterpret_cast<std::uintptr_t>(rit->second.va.addr) % alignment != 0) continue;
        const auto it = std::prev(rit.base());
        CachedBlock c = it->second;
        tiers[t].cache.erase(it);
        tiers[t].cached -= mapped;
        tiers[t].current += mapped;
        return insert_block(t, c.va, c.extent, std::move(c.pieces));
      }
    }

    for (int t : order) {
      // A spare extent of this size (left by a migration or a freed PMem
      // block) is already within the budget and its pages are already there.
      if (Result<void*> p = allocate_from_spare(lk, t, mapped, va_alignment); p)
        return p;
      // A full tier would drop its cache and spares below: their pages go
      // into the new block instead (several of them when no one is large
      // enough). With room, a cached block or spare not much larger still
      // beats pages the kernel must zero.
      std::vector<Donor> donors = fits(t, mapped) ? take_donors(t, mapped, 2 * mapped)
                                                  : take_donors(t, mapped, kAnySize, true);
      // With room but no freed block of about this size: smaller freed
      // blocks side by side rather than fresh pages beside them (which
      // would only raise the tier's peak).
      if (donors.empty() && fits(t, mapped)) donors = take_smaller_donors(t, mapped);
      // Cached blocks and spares never stand in the way (any tier, any hint);
      // only automatic/hot requests evict, and only from fast tiers — and
      // the victims' pages go into the new block too.
      bool room = reclaim(t, mapped) ||
                  (tiers[t].fast && hint != Hint::cold &&
                   make_room(lk, t, mapped, 0, 0, /*recycle=*/recycles(t)));
      if (room && !fits(t, mapped)) {  // make_room left the room as cached blocks and spares
        std::size_t have = 0;
        for (const Donor& d : donors) have += d.extent.bytes;
        if (have < mapped)
          for (Donor& d : take_donors(t, mapped - have, kAnySize, true))
            donors.push_back(std::move(d));
        room = reclaim(t, mapped);
      }
      if (!room) {
        lk.unlock();
        hold_pages(t, donors, false);  // released, as reclaim would have
        lk.lock();
        continue;
      }
      tiers[t].reserved += mapped;
      tiers[t].note_peak();
      lk.unlock();
      std::vector<HeldPages> held = hold_pages(t, donors, true);
      AddressSpace::Range range = va->allocate(mapped, va_alignment);
      Result<Extent> extent(Errc::no_space, "virtual range of " + format_bytes(va->bytes()) +
                                                " exhausted");
      if (range.addr != nullptr) {
        extent = tiers[t].tier.backend->allocate(mapped, AllocateOptions{range.addr, false});
        if (!extent) {
          AddressSpace::reset(range.addr, mapped);
          va->release(range);
        }
      }
      Pieces pieces = place_pages(extent ? extent->addr : nullptr, mapped, held);
      keep_as_spares(t, held);
      lk.lock();
      tiers[t].reserved -= mapped;
      if (extent) {
        tiers[t].current += mapped;
        return insert_block(t, range, *extent, std::move(pieces));
      }
      if (range.addr == nullptr) break;  // no tier can help
      // This tier's storage is full (e.g. ENOSPC on the PMem file): try the next.
    }
    failed_allocations += 1;
    return Result<void*>(Errc::no_space, "no tier has room for " + format_bytes(mapped) + " (" +
                                             occupancy_text() + ")");
  }

  // ---- page recycling (anonymous DRAM; page_recycling.cpp) -------------------------

  struct Donor {
    Extent extent;
    std::optional<AddressSpace::Range> va;  // cached blocks: their range in ours
    Pieces pieces;                          // ... and its mappings
  };
  static constexpr std::size_t kAnySize = std::numeric_limits<std::size_t>::max();

  bool recycles(int t) const {
    const TierKind kind = tiers[t].info.kind;
    return kind == TierKind::dram || kind == TierKind::hbm;
  }

  // Whether tier t's blocks are anonymous memory (not a shared file or device mapping).
  bool anonymous(int t) const { return recycles(t) || tiers[t].info.kind == TierKind::pmem_kmem; }

  // Under mu: takes the smallest cached block or spare of tier t that holds
  // `bytes`; it no longer counts in the tier. With `at_most`, only a donor of
  // at most that many bytes. When none holds `bytes` and `several`, the
  // largest ones instead, until they hold it together or the tier has none
  // left (the new block is then made of their pages side by side: Pieces).
  // Empty when there is none.
  std::vector<Donor> take_donors(int t, std::size_t bytes, std::size_t at_most = kAnySize,
                                 bool several = false);
  // Under mu, for a tier with room: cached blocks and spares no larger than
  // what the block still misses, largest first, as long as each gives it
  // whole 2 MiB (place_pages); the rest of the block gets fresh pages. Empty
  // when there is none.
  std::vector<Donor> take_smaller_donors(int t, std::size_t bytes);
  // Under mu: moves the cached block `c` (or, when c is the end, the spare
  // `sp`) of ts into donors.
  static void take_donor(TierState& ts, std::multimap<std::size_t, CachedBlock>::iterator c,
                         std::multimap<std::size_t, Spare>::iterator sp,
                         std::vector<Donor>& donors);
  // Not under mu: the donors' pages, moved out of their mappings (mremap to a
  // kernel-chosen address) and the donors released, so that the backend's
  // own capacity count has room for the block they go into. `keep` false:
  // just release them.
  std::vector<HeldPages> hold_pages(int t, std::vector<Donor>& donors, bool keep);
  // Not under mu: held pages a new block did not need (place_pages leaves
  // them). In a tier that has been full (its peak reached its budget), they
  // become spares again while the budget and cache_limit have room:
  // otherwise a donor larger than the block, or one cut to whole huge pages,
  // lost its remainder, and the next block faulted in (and the kernel
  // zeroed) as many fresh pages. A tier that has never been full unmaps
  // them: there, spares of odd sizes only sit beside fresh blocks (an
  // all-DRAM run's DRAM peak grew 10% with them).
  void keep_as_spares(int t, std::vector<HeldPages>& held);
  // Maps a spare extent of exactly `bytes` of tier t at a new range (under
  // lk, released meanwhile). An error when t has none or the mapping fails
  // (the spare is then released).
  Result<void*> allocate_from_spare(std::unique_lock<std::mutex>& lk, int t, std::size_t bytes,
                                    std::size_t alignment);

  // Under mu; tiers[t].current already includes the block.
  void* insert_block(int t, AddressSpace::Range range, Extent extent, Pieces pieces = {}) {
    Block b;
    b.addr = reinterpret_cast<std::uintptr_t>(range.addr);
    b.bytes = extent.bytes;
    b.va = range;
    b.tier = t;
    b.extent = extent;
    b.last_use = ++tick;
    b.serial = allocations + 1;
    b.pieces = std::move(pieces);
    blocks.emplace(b.addr, std::move(b));
    tiers[t].blocks += 1;
    tiers[t].note_peak();
    allocations += 1;
    record_counter(t);
    return range.addr;
  }

  Status deallocate(void* ptr) {
    std::unique_lock lk(mu);
    Block* b = wait_still(lk, reinterpret_cast<std::uintptr_t>(ptr));
    if (b == nullptr) return not_a_block(ptr);  // never ours, or freed (meanwhile) already
    Block block = *b;
    blocks.erase(block.addr);
    TierState& tier = tiers[block.tier];
    tier.current -= block.bytes;
    tier.blocks -= 1;
    frees += 1;
    if (tier.fast && tier.cached + block.bytes <= tier.cache_limit) {
      tier.cache.emplace(block.bytes, CachedBlock{block.va, block.extent, std::move(block.pieces)});
      tier.cached += block.bytes;
      record_counter(block.tier);
      return Status::ok();
    }
    record_counter(block.tier);
    if (!tier.fast && !block.guarded && block.pieces.empty() &&
        tier.spare + block.bytes <= tier.cache_limit) {
      // PMem: keep the extent as a spare for the next block or demotion of
      // this size (no fallocate, no page faults, no hole punched meanwhile).
      tier.reserved += block.bytes;  // still held while the pages move out
      lk.unlock();
      // Freed, read-write (not guarded); one mapping.
      const std::vector<HeldPages> out = move_pages_out(ptr, block.bytes, {}, {});
      Status s = AddressSpace::reset(ptr, block.bytes);
      va->release(block.va);
      lk.lock();
      tier.reserved -= block.bytes;
      if (!out.empty()) {
        Extent e = block.extent;
        e.addr = out.front().addr;
        tier.spares.emplace(block.bytes, Spare{e, false});
        tier.spare += block.bytes;
        return s;
      }
      lk.unlock();
      block.extent.addr = nullptr;
      tier.tier.backend->release(block.extent);
      return s;
    }
    lk.unlock();
    Status s = AddressSpace::reset(ptr, block.bytes);
    block.extent.addr = nullptr;
    tier.tier.backend->release(block.extent);
    va->release(block.va);
    return s;
  }
};

}  // namespace tensortier
