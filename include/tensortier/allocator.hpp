// The tiered allocator: tensor-sized blocks at stable addresses in one virtual
// range, placed in DRAM (NUMA-local first) or PMem under per-tier budgets, and
// migrated between tiers without changing their address.
//
//   auto alloc = tensortier::Allocator::create(options);   // or from_env()
//   void* p = (*alloc)->allocate(256 << 20);               // throws std::bad_alloc when full
//   (*alloc)->advise(p, tensortier::Advice::cold);         // demote in the background
//   { auto pin = (*alloc)->pin(p); ... }                   // pinned blocks never move
//   (*alloc)->deallocate(p);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensortier/backend.hpp"
#include "tensortier/config.hpp"
#include "tensortier/stats.hpp"
#include "tensortier/status.hpp"

namespace tensortier {

// Where a new block should go.
enum class Hint {
  automatic,  // DRAM if it fits (after evicting by policy), else PMem
  hot,        // DRAM; evict others to make room
  cold,       // PMem first, DRAM if PMem is full
};

// What the caller knows about a block's future use.
enum class Advice {
  hot,        // used now: promote synchronously, mark recently used
  cold,       // not used for a while: demote in the background
  will_need,  // used soon: prefetch (promote) in the background
  wont_need,  // same as cold
};

// Which DRAM blocks are demoted when DRAM must make room.
enum class Policy {
  lru,       // least recently allocated / pinned / advised first
  next_use,  // farthest next use first (the runtime sets next uses); none set = farthest
  static_placement,  // placement at allocation only, never migrate (memkind memtier-like)
};

const char* policy_name(Policy policy) noexcept;
Result<Policy> parse_policy(const std::string& text);  // "lru", "next_use", "static"

// Optane emulation for hosts without PMem: migration copies are slowed to the
// given bandwidths (published per-DIMM figures by default) so placement
// studies on an emulated tier are honest. Projected time is always reported.
struct OptaneThrottle {
  bool enabled = false;
  double read_gbps_per_dimm = 6.6;   // promote reads PMem
  double write_gbps_per_dimm = 2.3;  // demote writes PMem
  unsigned dimms = 1;

  // How long Optane takes to read and to write these bytes (whether or not
  // the throttle is enabled: the projected time).
  double seconds(std::uint64_t read_bytes, std::uint64_t written_bytes) const {
    const double d = dimms > 0 ? dimms : 1;
    return static_cast<double>(read_bytes) / (read_gbps_per_dimm * d * 1e9) +
           static_cast<double>(written_bytes) / (write_gbps_per_dimm * d * 1e9);
  }
};

struct AllocatorOptions {
  Config config;                 // tiers: DRAM limit, PMem, topology XML
  Policy policy = Policy::lru;
  bool numa_local_first = true;  // DRAM order: the calling thread's node, then by distance
  OptaneThrottle throttle;
  bool record_trace = false;     // keep events for write_trace()
  // Transparent spilling for code that does not know about tiers (the
  // LD_PRELOAD library): demoted blocks are protected, and the first touch
  // promotes the block (or, when DRAM cannot make room, opens its PMem pages
  // for direct access) and resumes the faulting thread.
  bool promote_on_touch = false;
};

// AllocatorOptions from the environment: the TENSORTIER_* of Config plus
// TENSORTIER_POLICY (lru | next_use | static) and TENSORTIER_OPTANE (off | on |
// dimms=N[,read=GBPS][,write=GBPS]). Errors name the variable.
Result<AllocatorOptions> allocator_options_from_env(const EnvLookup& env);

class PinGuard;

class Allocator {
 public:
  // Opens the tiers of options.config and reserves the virtual range.
  static Result<std::unique_ptr<Allocator>> create(AllocatorOptions options);
  // create() with the configuration from TENSORTIER_* (and TENSORTIER_POLICY).
  static Result<std::unique_ptr<Allocator>> from_env();

  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // A block of at least `bytes`, aligned to `alignment` (a power of two up to
  // 2 MiB). Errc::invalid_argument for 0 bytes, overflow or a bad alignment;
  // Errc::no_space when no tier has room (nothing is lost).
  Result<void*> try_allocate(std::size_t bytes, std::size_t alignment = 64,
                             Hint hint = Hint::automatic);
  // try_allocate() that throws std::bad_alloc when full, std::invalid_argument on bad input.
  void* allocate(std::size_t bytes, std::size_t alignment = 64, Hint hint = Hint::automatic);
  // Frees a block. A pointer that is not a live block's start (foreign, double
  // free) is Errc::invalid_argument and changes nothing.
  Status deallocate(void* ptr);

  // Pinned blocks are never moved; pinning promotes a block that is in PMem
  // when DRAM has room and marks it recently used. Pins nest.
  Status pin(void* ptr);
  Status unpin(void* ptr);
  PinGuard pin_guard(void* ptr);

  Status advise(void* ptr, Advice advice);

  // Synchronous moves (the mover thread does the asynchronous ones).
  Status demote(void* ptr);
  Status promote(void* ptr);
  // Waits until every queued asynchronous move has finished.
  void wait_for_moves();

  // Optane emulation (AllocatorOptions::throttle): when the emulated DIMMs
  // are done carrying the in-place traffic of an op that began at `start`
  // (bytes it read and wrote in PMem where they are). The DIMMs carry the
  // migrations too, and those go first: the op is done later by the
  // migration time that overlapped it. `start` without the throttle.
  std::chrono::steady_clock::time_point pmem_traffic_done(
      std::uint64_t read_bytes, std::uint64_t written_bytes,
      std::chrono::steady_clock::time_point start);

  // The next-use policy: the step at which `ptr` is used next, and the current
  // step. Prefetch ahead of use is advise(will_need).
  Status set_next_use(void* ptr, std::uint64_t step);
  void set_current_step(std::uint64_t step);

  // Index into tiers() of the tier holding ptr's block, -1 when not ours.
  int tier_of(const void* ptr) const;
  // Whether ptr lies inside this allocator's virtual range.
  bool owns(const void* ptr) const noexcept;
  // Usable bytes of the block starting at ptr; 0 when not a live block.
  std::size_t block_bytes(const void* ptr) const;

  const std::vector<TierInfo>& tiers() const noexcept;
  Stats stats() const;
  // Chrome/Perfetto trace JSON (counter tracks of bytes per tier, migration
  // slices); needs AllocatorOptions::record_trace.
  Status write_trace(const std::string& path) const;

  struct Impl;

 private:
  explicit Allocator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Keeps a block pinned for its lifetime.
class PinGuard {
 public:
  PinGuard() = default;
  PinGuard(Allocator* allocator, void* ptr) : allocator_(allocator), ptr_(ptr) {}
  PinGuard(PinGuard&& other) noexcept : allocator_(other.allocator_), ptr_(other.ptr_) {
    other.allocator_ = nullptr;
  }
  PinGuard& operator=(PinGuard&& other) noexcept {
    if (this != &other) {
      reset();
      allocator_ = other.allocator_;
      ptr_ = other.ptr_;
      other.allocator_ = nullptr;
    }
    return *this;
  }
  ~PinGuard() { reset(); }
  void reset() {
    if (allocator_ != nullptr) allocator_->unpin(ptr_);
    allocator_ = nullptr;
  }
  explicit operator bool() const noexcept { return allocator_ != nullptr; }

 private:
  Allocator* allocator_ = nullptr;
  void* ptr_ = nullptr;
};

// std::pmr adapter: containers allocate from the tiers with a fixed hint.
class MemoryResource : public std::pmr::memory_resource {
 public:
  explicit MemoryResource(Allocator& allocator, Hint hint = Hint::automatic)
      : allocator_(allocator), hint_(hint) {}
  Allocator& allocator() const noexcept { return allocator_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* ptr, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  Allocator& allocator_;
  Hint hint_;
};

}  // namespace tensortier
