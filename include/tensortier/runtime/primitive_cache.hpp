// Per-context cache of oneDNN primitives, keyed by op and shapes: each op
// builds its primitive descriptors and primitives once per shape ("plan") and
// every later call with that shape reuses them. Each plan records the
// implementation oneDNN chose for every primitive (impl_info_str()), so tests
// and tools can check that no reference ("ref:...") kernel was selected.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

namespace tensortier::runtime {

struct ImplRecord {
  std::string key;   // the plan's cache key (op and shapes)
  std::string role;  // "fwd", "bwd_data", "bwd_weights", "reorder", ...
  std::string impl;  // primitive_desc::impl_info_str(), e.g. "jit:avx2"
};

class PrimitiveCache {
 public:
  // The plan stored under `key`, built by `make()` on first use.
  template <typename Plan, typename Make>
  Plan& get(const std::string& key, Make&& make) {
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (it->second.type != std::type_index(typeid(Plan)))
        throw std::logic_error("primitive cache key '" + key + "' holds another plan type");
      hits_ += 1;
      return *static_cast<Plan*>(it->second.plan.get());
    }
    misses_ += 1;
    auto plan = std::make_shared<Plan>(make());
    Plan& ref = *plan;
    entries_.emplace(key, Entry{std::type_index(typeid(Plan)), std::move(plan)});
    return ref;
  }

  // Records the implementation of one primitive of a plan.
  void note_impl(const std::string& key, const std::string& role, const std::string& impl) {
    impls_.push_back({key, role, impl});
  }

  const std::vector<ImplRecord>& impls() const noexcept { return impls_; }
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t hits() const noexcept { return hits_; }
  std::size_t misses() const noexcept { return misses_; }
  void clear() {
    entries_.clear();
    impls_.clear();
  }

 private:
  struct Entry {
    std::type_index type;
    std::shared_ptr<void> plan;
  };
  std::unordered_map<std::string, Entry> entries_;
  std::vector<ImplRecord> impls_;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
};

}  // namespace tensortier::runtime
