// Tests that need hardware this machine may lack (KMEM-DAX nodes, a devdax
// device, an FS-DAX mount) skip with the reason when it is absent; on machines
// that have it, TENSORTIER_REQUIRE_HARDWARE=1 turns those skips into failures
// so a missing or misconfigured device cannot pass silently.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

// Not named "testing": inside namespace tensortier that would hide ::testing.
namespace tensortier::hardware_test {

inline bool hardware_required() {
  const char* value = std::getenv("TENSORTIER_REQUIRE_HARDWARE");
  return value != nullptr && std::strcmp(value, "1") == 0;
}

}  // namespace tensortier::hardware_test

// Skips the current test (or fails it under TENSORTIER_REQUIRE_HARDWARE=1)
// with `reason`, a streamable expression. Like GTEST_SKIP() and FAIL() it
// returns from the enclosing void function (test body or SetUp).
#define TT_SKIP_WITHOUT_HARDWARE(reason)                                              \
  do {                                                                                \
    if (::tensortier::hardware_test::hardware_required()) {                                 \
      FAIL() << "required hardware is absent (TENSORTIER_REQUIRE_HARDWARE=1): "       \
             << reason;                                                               \
    }                                                                                 \
    GTEST_SKIP() << reason;                                                           \
  } while (false)
