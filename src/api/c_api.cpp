// The C ABI (tensortier.h) over tensortier::Allocator. Every entry point clears
// the thread's error message, validates its arguments, then calls the C++ API
// inside call(), which turns exceptions into statuses: nothing crosses extern "C".
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "tensortier/allocator.hpp"
#include "tensortier/tensortier.h"

struct tt_config {
  tensortier::AllocatorOptions options;
};

struct tt_context {
  std::unique_ptr<tensortier::Allocator> allocator;
};

namespace {

using tensortier::Errc;
using tensortier::Status;

static_assert(static_cast<int>(Errc::ok) == TT_OK);
static_assert(static_cast<int>(Errc::invalid_argument) == TT_ERR_INVALID_ARGUMENT);
static_assert(static_cast<int>(Errc::not_supported) == TT_ERR_NOT_SUPPORTED);
static_assert(static_cast<int>(Errc::no_space) == TT_ERR_NO_SPACE);
static_assert(static_cast<int>(Errc::io_error) == TT_ERR_IO);
static_assert(static_cast<int>(Errc::not_found) == TT_ERR_NOT_FOUND);
static_assert(static_cast<int>(Errc::internal) == TT_ERR_INTERNAL);

// A fixed buffer: setting a message never allocates, and the thread-local
// needs no destructor (safe across dlclose).
constexpr std::size_t kMessageBytes = 1024;
thread_local char t_message[kMessageBytes];

void clear_error() noexcept { t_message[0] = '\0'; }

tt_status fail(tt_status status, const char* format, ...) noexcept
    __attribute__((format(printf, 2, 3)));

tt_status fail(tt_status status, const char* format, ...) noexcept {
  std::va_list args;
  va_start(args, format);
  std::vsnprintf(t_message, kMessageBytes, format, args);
  va_end(args);
  return status;
}

tt_status from_status(const Status& status, const char* function) noexcept {
  if (status.is_ok()) return TT_OK;
  return fail(static_cast<tt_status>(status.code()), "%s: %s", function, status.message().c_str());
}

// Runs body (which returns a tt_status) with every exception turned into a status.
template <typename Body>
tt_status call(const char* function, Body&& body) noexcept {
  try {
    return body(function);
  } catch (const std::bad_alloc&) {
    return fail(TT_ERR_NO_SPACE, "%s: out of memory", function);
  } catch (const std::exception& e) {
    return fail(TT_ERR_INTERNAL, "%s: unexpected exception: %s", function, e.what());
  } catch (...) {
    return fail(TT_ERR_INTERNAL, "%s: unexpected exception", function);
  }
}

#define TT_REQUIRE(arg)                                                                           \
  do {                                                                                            \
    if ((arg) == nullptr) return fail(TT_ERR_INVALID_ARGUMENT, "%s: %s is NULL", __func__, #arg); \
  } while (0)

// A context's allocator; the caller has checked context for NULL.
tensortier::Allocator& allocator_of(tt_context* context) { return *context->allocator; }

}  // namespace

extern "C" {

TT_API const char* tt_errormsg(void) { return t_message; }

TT_API const char* tt_status_name(tt_status status) {
  if (static_cast<int>(status) < TT_OK || static_cast<int>(status) > TT_ERR_INTERNAL)
    return "unknown";
  return tensortier::errc_name(static_cast<Errc>(status));
}

TT_API tt_status tt_version(int* major, int* minor, int* patch) {
  clear_error();
  TT_REQUIRE(major);
  TT_REQUIRE(minor);
  TT_REQUIRE(patch);
  *major = TT_VERSION_MAJOR;
  *minor = TT_VERSION_MINOR;
  *patch = TT_VERSION_PATCH;
  return TT_OK;
}

// ---- configuration --------------------------------------------------------------

TT_API tt_status tt_config_new(tt_config** out) {
  clear_error();
  TT_REQUIRE(out);
  return call(__func__, [&](const char* /*fn*/) {
    *out = new tt_config{};
    return TT_OK;
  });
}

TT_API tt_status tt_config_from_env(tt_config** out) {
  clear_error();
  TT_REQUIRE(out);
  return call(__func__, [&](const char* fn) {
    auto options = tensortier::allocator_options_from_env(tensortier::process_env());
    if (!options) return from_status(options.status(), fn);
    *out = new tt_config{std::move(*options)};
    return TT_OK;
  });
}

TT_API tt_status tt_config_delete(tt_config** config) {
  clear_error();
  TT_REQUIRE(config);
  delete *config;
  *config = nullptr;
  return TT_OK;
}

TT_API tt_status tt_config_set_dram_limit(tt_config* config, uint64_t bytes) {
  clear_error();
  TT_REQUIRE(config);
  if (bytes == 0)
    return fail(TT_ERR_INVALID_ARGUMENT, "%s: the DRAM limit must be at least one byte", __func__);
  config->options.config.dram_limit_bytes = bytes;
  return TT_OK;
}

TT_API tt_status tt_config_set_pmem(tt_config* config, const char* spec) {
  clear_error();
  TT_REQUIRE(config);
  TT_REQUIRE(spec);
  return call(__func__, [&](const char* fn) {
    auto parsed = tensortier::parse_pmem_spec(spec);
    if (!parsed)
      return from_status(parsed.status().with_context(std::string("'") + spec + "'"), fn);
    config->options.config.pmem = std::move(*parsed);
    return TT_OK;
  });
}

TT_API tt_status tt_config_set_policy(tt_config* config, tt_policy policy) {
  clear_error();
  TT_REQUIRE(config);
  switch (policy) {
    case TT_POLICY_LRU:
      config->options.policy = tensortier::Policy::lru;
      return TT_OK;
    case TT_POLICY_NEXT_USE:
      config->options.policy = tensortier::Policy::next_use;
      return TT_OK;
    case TT_POLICY_STATIC:
      config->options.policy = tensortier::Policy::static_placement;
      return TT_OK;
  }
  return fail(
      TT_ERR_INVALID_ARGUMENT,
      "%s: unknown policy %d; accepted: TT_POLICY_LRU, TT_POLICY_NEXT_USE, TT_POLICY_STATIC",
      __func__, static_cast<int>(policy));
}

TT_API tt_status tt_config_set_optane_throttle(tt_config* config, int enabled,
                                               double read_gbps_per_dimm,
                                               double write_gbps_per_dimm, unsigned dimms) {
  clear_error();
  TT_REQUIRE(config);
  // !(x > 0) also rejects NaN.
  if (!(read_gbps_per_dimm > 0) || !(write_gbps_per_dimm > 0) || read_gbps_per_dimm > 1e6 ||
      write_gbps_per_dimm > 1e6)
    return fail(TT_ERR_INVALID_ARGUMENT,
                "%s: bandwidths %g/%g GB/s: each must be a positive number of GB/s up to 1e6",
                __func__, read_gbps_per_dimm, write_gbps_per_dimm);
  if (dimms == 0) return fail(TT_ERR_INVALID_ARGUMENT, "%s: dimms must be at least 1", __func__);
  config->options.throttle = {enabled != 0, read_gbps_per_dimm, write_gbps_per_dimm, dimms};
  return TT_OK;
}

TT_API tt_status tt_config_set_record_trace(tt_config* config, int enabled) {
  clear_error();
  TT_REQUIRE(config);
  config->options.record_trace = enabled != 0;
  return TT_OK;
}

// ---- context ----------------------------------------------------------------------

TT_API tt_status tt_context_new(const tt_config* config, tt_context** out) {
  clear_error();
  TT_REQUIRE(config);
  TT_REQUIRE(out);
  return call(__func__, [&](const char* fn) {
    auto allocator = tensortier::Allocator::create(config->options);
    if (!allocator) return from_status(allocator.status(), fn);
    *out = new tt_context{std::move(*allocator)};
    return TT_OK;
  });
}

TT_API tt_status tt_context_delete(tt_context** context) {
  clear_error();
  TT_REQUIRE(context);
  return call(__func__, [&](const char* /*fn*/) {
    delete *context;
    *context = nullptr;
    return TT_OK;
  });
}

// ---- blocks -------------------------------------------------------------------------

TT_API tt_status tt_allocate(tt_context* context, size_t size, size_t alignment, tt_hint hint,
                             void** out) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(out);
  tensortier::Hint h;
  switch (hint) {
    case TT_HINT_AUTO:
      h = tensortier::Hint::automatic;
      break;
    case TT_HINT_HOT:
      h = tensortier::Hint::hot;
      break;
    case TT_HINT_COLD:
      h = tensortier::Hint::cold;
      break;
    default:
      return fail(TT_ERR_INVALID_ARGUMENT,
                  "%s: unknown hint %d; accepted: TT_HINT_AUTO, TT_HINT_HOT, TT_HINT_COLD",
                  __func__, static_cast<int>(hint));
  }
  return call(__func__, [&](const char* fn) {
    auto p = allocator_of(context).try_allocate(size, alignment == 0 ? 64 : alignment, h);
    if (!p) return from_status(p.status(), fn);
    *out = *p;
    return TT_OK;
  });
}

TT_API tt_status tt_deallocate(tt_context* context, void* ptr) {
  clear_error();
  TT_REQUIRE(context);
  if (ptr == nullptr) return TT_OK;
  return call(__func__, [&](const char* fn) {
    return from_status(allocator_of(context).deallocate(ptr), fn);
  });
}

TT_API tt_status tt_pin(tt_context* context, void* ptr) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(ptr);
  return call(__func__,
              [&](const char* fn) { return from_status(allocator_of(context).pin(ptr), fn); });
}

TT_API tt_status tt_unpin(tt_context* context, void* ptr) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(ptr);
  return call(__func__,
              [&](const char* fn) { return from_status(allocator_of(context).unpin(ptr), fn); });
}

TT_API tt_status tt_advise(tt_context* context, void* ptr, tt_advice advice) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(ptr);
  tensortier::Advice a;
  switch (advice) {
    case TT_ADVICE_HOT:
      a = tensortier::Advice::hot;
      break;
    case TT_ADVICE_COLD:
      a = tensortier::Advice::cold;
      break;
    case TT_ADVICE_WILL_NEED:
      a = tensortier::Advice::will_need;
      break;
    case TT_ADVICE_WONT_NEED:
      a = tensortier::Advice::wont_need;
      break;
    default:
      return fail(TT_ERR_INVALID_ARGUMENT,
                  "%s: unknown advice %d; accepted: TT_ADVICE_HOT, TT_ADVICE_COLD, "
                  "TT_ADVICE_WILL_NEED, TT_ADVICE_WONT_NEED",
                  __func__, static_cast<int>(advice));
  }
  return call(__func__, [&](const char* fn) {
    return from_status(allocator_of(context).advise(ptr, a), fn);
  });
}

TT_API tt_status tt_demote(tt_context* context, void* ptr) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(ptr);
  return call(__func__,
              [&](const char* fn) { return from_status(allocator_of(context).demote(ptr), fn); });
}

TT_API tt_status tt_promote(tt_context* context, void* ptr) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(ptr);
  return call(__func__,
              [&](const char* fn) { return from_status(allocator_of(context).promote(ptr), fn); });
}

TT_API tt_status tt_wait_for_moves(tt_context* context) {
  clear_error();
  TT_REQUIRE(context);
  return call(__func__, [&](const char* /*fn*/) {
    allocator_of(context).wait_for_moves();
    return TT_OK;
  });
}

TT_API tt_status tt_set_next_use(tt_context* context, void* ptr, uint64_t step) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(ptr);
  return call(__func__, [&](const char* fn) {
    return from_status(allocator_of(context).set_next_use(ptr, step), fn);
  });
}

TT_API tt_status tt_set_current_step(tt_context* context, uint64_t step) {
  clear_error();
  TT_REQUIRE(context);
  return call(__func__, [&](const char* /*fn*/) {
    allocator_of(context).set_current_step(step);
    return TT_OK;
  });
}

// ---- tiers and statistics -------------------------------------------------------------

TT_API tt_status tt_tier_of(tt_context* context, const void* ptr, int* tier) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(tier);
  return call(__func__, [&](const char* fn) {
    const int t = allocator_of(context).tier_of(ptr);
    *tier = t;
    if (t < 0)
      return fail(TT_ERR_NOT_FOUND, "%s: %p is not inside a live block of this context", fn, ptr);
    return TT_OK;
  });
}

TT_API tt_status tt_tier_count(tt_context* context, int* count) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(count);
  *count = static_cast<int>(allocator_of(context).tiers().size());
  return TT_OK;
}

TT_API tt_status tt_tier_name(tt_context* context, int index, const char** name) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(name);
  const auto& tiers = allocator_of(context).tiers();
  if (index < 0 || static_cast<std::size_t>(index) >= tiers.size())
    return fail(TT_ERR_INVALID_ARGUMENT, "%s: tier index %d out of range [0, %zu)", __func__, index,
                tiers.size());
  *name = tiers[static_cast<std::size_t>(index)].name.c_str();
  return TT_OK;
}

TT_API tt_status tt_stats_json(tt_context* context, char* buf, size_t buf_len, size_t* needed) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(needed);
  if (buf == nullptr && buf_len != 0)
    return fail(TT_ERR_INVALID_ARGUMENT, "%s: buf is NULL but buf_len is %zu", __func__, buf_len);
  return call(__func__, [&](const char* /*fn*/) {
    const std::string json = tensortier::stats_to_json(allocator_of(context).stats());
    if (buf_len > 0) {
      const std::size_t n = std::min(json.size(), buf_len - 1);
      std::memcpy(buf, json.data(), n);
      buf[n] = '\0';
    }
    *needed = json.size() + 1;
    return TT_OK;
  });
}

TT_API tt_status tt_write_trace(tt_context* context, const char* path) {
  clear_error();
  TT_REQUIRE(context);
  TT_REQUIRE(path);
  return call(__func__, [&](const char* fn) {
    return from_status(allocator_of(context).write_trace(path), fn);
  });
}

}  // extern "C"
