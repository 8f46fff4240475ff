// Configuration of a tensortier context, read from the environment
// (TENSORTIER_*; names and syntax in docs/configuration.md) or built in code.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "tensortier/status.hpp"

namespace tensortier {

// Where the PMem tier lives (TENSORTIER_PMEM).
struct PmemSpec {
  enum class Scheme {
    temp_file,  // unset: emulated PMem file in $TMPDIR (or /tmp), removed at exit
    file,       // file:/dir[,size=N]: a new file in dir, FS-DAX if the filesystem supports it,
                // emulated otherwise; file:/path/file[,size=N]: that existing file, as it is
    devdax,     // devdax:/dev/daxX.Y
    kmem,       // KMEM-DAX NUMA nodes
    none,       // no PMem tier
  };
  Scheme scheme = Scheme::temp_file;
  std::string path;                      // directory or existing file (file), device (devdax)
  std::optional<std::uint64_t> size_bytes;  // file size; default kDefaultPmemFileBytes (an
                                            // existing file: its size)
};

inline constexpr std::uint64_t kDefaultPmemFileBytes = 64ULL << 30;
inline constexpr std::uint64_t kDefaultMinManagedBytes = 1ULL << 20;

struct Config {
  std::optional<std::uint64_t> dram_limit_bytes;  // TENSORTIER_DRAM_LIMIT; unset: machine default
  PmemSpec pmem;                                  // TENSORTIER_PMEM
  std::uint64_t min_managed_bytes = kDefaultMinManagedBytes;  // TENSORTIER_MIN_SIZE
  std::string stats_path;                         // TENSORTIER_STATS ("" = off, "-" = stderr)
  std::string topology_xml;                       // TENSORTIER_TOPOLOGY_XML ("" = live machine)
};

// Looks up an environment variable; returns nullptr when unset. Injected so
// tests need not mutate the process environment.
using EnvLookup = std::function<const char*(const char* name)>;

// The process environment (std::getenv).
EnvLookup process_env();

// Parses every TENSORTIER_* variable. A bad value gives Errc::invalid_argument
// with a one-line message: the variable, the offending text, what is accepted.
// Only syntax is checked here; paths are checked when the tier is opened.
Result<Config> config_from_env(const EnvLookup& env);

// "64G", "512M", "1024", "1.5G": bytes with an optional K/M/G/T suffix (binary
// units, optional trailing "B" or "iB"). Zero, negative, fractional bytes,
// overflow and unknown suffixes are rejected with a message naming `text`.
Result<std::uint64_t> parse_size(const std::string& text);

// Parses TENSORTIER_PMEM's syntax (see PmemSpec).
Result<PmemSpec> parse_pmem_spec(const std::string& text);

// The TENSORTIER_PMEM text that gives `spec` ("file:/dir,size=64G"), or a
// description of the default for temp_file.
std::string pmem_spec_text(const PmemSpec& spec);

// "1.5 GiB" style rendering for people.
std::string format_bytes(std::uint64_t bytes);

}  // namespace tensortier
