// Uses the installed headers and library: parses a size and opens a DRAM tier.
#include <cstdio>
#include <cstring>

#include "tensortier/backend.hpp"
#include "tensortier/config.hpp"

int main() {
  auto size = tensortier::parse_size("4M");
  if (!size || *size != (4u << 20)) return 1;
  auto dram = tensortier::open_dram_backend(0, *size);
  if (!dram) {
    std::fprintf(stderr, "%s\n", dram.status().message().c_str());
    return 1;
  }
  auto extent = (*dram)->allocate(1 << 20);
  if (!extent) return 1;
  std::memset(extent->addr, 7, extent->bytes);
  (*dram)->release(*extent);
  std::puts("consumer ok");
  return 0;
}
