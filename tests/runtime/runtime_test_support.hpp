// Shared helpers for the runtime tests: one allocator per test binary (DRAM
// only), random data, comparisons with per-op tolerances, and central finite
// differences accumulated in double.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "dram_allocator.hpp"
#include "reference/reference.hpp"
#include "tensortier/allocator.hpp"
#include "tensortier/runtime/runtime.hpp"

namespace tensortier::runtime::test {

using reference::RefTensor;

// A DRAM-only allocator shared by the tests of one binary.
inline Allocator& test_allocator() {
  static std::unique_ptr<Allocator> allocator = make_dram_allocator();
  return *allocator;
}

inline std::uint64_t dram_current_bytes() {
  std::uint64_t total = 0;
  for (const auto& tier : test_allocator().stats().tiers) total += tier.current_bytes;
  return total;
}

inline RefTensor random_ref(const Dims& dims, unsigned seed, double lo = -1.0, double hi = 1.0) {
  RefTensor r(dims);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  // Round to float so the runtime (f32) and the reference (double) see the same inputs.
  for (auto& x : r.v) x = static_cast<float>(dist(rng));
  return r;
}

// Values whose magnitude is at least `gap` (no ReLU kink within a step of size < gap).
inline RefTensor random_away_from_zero(const Dims& dims, unsigned seed, double gap) {
  RefTensor r = random_ref(dims, seed, gap, 1.0);
  std::mt19937 rng(seed + 1);
  for (auto& x : r.v)
    if (rng() % 2) x = -x;
  return r;
}

// Distinct values (a shuffled ramp with step `step`): max-pool windows have a
// unique maximum that a perturbation smaller than step/2 does not change.
inline RefTensor random_distinct(const Dims& dims, unsigned seed, double step) {
  RefTensor r(dims);
  std::iota(r.v.begin(), r.v.end(), 0.0);
  std::mt19937 rng(seed);
  std::shuffle(r.v.begin(), r.v.end(), rng);
  const double mid = static_cast<double>(r.size()) / 2;
  for (auto& x : r.v) x = static_cast<float>((x - mid) * step);
  return r;
}

inline std::vector<int> random_labels(const Dims& logits, unsigned seed) {
  std::vector<int> labels(static_cast<std::size_t>(logits[0] * logits[2] * logits[3] * logits[4]));
  std::mt19937 rng(seed);
  for (auto& l : labels) l = static_cast<int>(rng() % logits[1]);
  return labels;
}

inline Tensor label_tensor(Allocator& allocator, const Dims& logits, const std::vector<int>& labels,
                           DataType type) {
  Tensor t = Tensor::empty(allocator, {logits[0], logits[2], logits[3], logits[4]}, type);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (type == DataType::u8) {
      t.data_as<std::uint8_t>()[i] = static_cast<std::uint8_t>(labels[i]);
    } else {
      t.data_as<std::int32_t>()[i] = labels[i];
    }
  }
  return t;
}

inline Tensor to_tensor(const RefTensor& r) { return reference::to_tensor(test_allocator(), r); }

// Tensor `t` as a RefTensor (layout-independent, NCDHW values).
inline RefTensor ref_of(Context& ctx, const Tensor& t) { return reference::from_tensor(ctx, t); }

// Every element within atol + rtol * |expected|; reports the worst one.
inline void expect_close(const RefTensor& expected, const RefTensor& actual, double atol,
                         double rtol, const std::string& what) {
  ASSERT_EQ(expected.dims, actual.dims) << what;
  double worst = 0;
  std::size_t worst_i = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double excess =
        std::abs(actual.v[i] - expected.v[i]) - (atol + rtol * std::abs(expected.v[i]));
    if (excess > worst) {
      worst = excess;
      worst_i = i;
    }
  }
  EXPECT_LE(worst, 0.0) << what << ": element " << worst_i << " is " << actual.v[worst_i]
                        << ", expected " << expected.v[worst_i] << " (atol " << atol
                        << ", rtol " << rtol << ")";
}

// sum(y * weights) in double: the scalar whose gradient w.r.t. y is `weights`.
inline double weighted_sum(const RefTensor& y, const RefTensor& weights) {
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += y.v[i] * weights.v[i];
  return s;
}

// Compares `analytic` (d f / d x) with central differences of f at up to
// `samples` indices of x (all when fewer).
inline void check_finite_differences(const std::string& what, const RefTensor& x,
                                     const RefTensor& analytic,
                                     const std::function<double(const RefTensor&)>& f, double h,
                                     double atol, double rtol, std::size_t samples = 24) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  std::vector<std::size_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::mt19937 rng(7);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(std::min(samples, idx.size()));
  RefTensor probe = x;
  for (std::size_t i : idx) {
    probe.v[i] = x.v[i] + h;
    const double up = f(probe);
    probe.v[i] = x.v[i] - h;
    const double down = f(probe);
    probe.v[i] = x.v[i];
    const double numeric = (up - down) / (2 * h);
    EXPECT_NEAR(analytic.v[i], numeric, atol + rtol * std::abs(numeric))
        << what << ": element " << i;
  }
}

// A fresh context per test on the shared allocator.
class RuntimeTest : public ::testing::Test {
 protected:
  Allocator& alloc = test_allocator();
  Context ctx{test_allocator()};
};

}  // namespace tensortier::runtime::test
