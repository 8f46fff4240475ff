// TENSORTIER_* environment parsing. Syntax only: paths are checked when the
// tier is opened, where the error is prefixed with the variable as well.
#include "tensortier/config.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace tensortier {
namespace {

constexpr const char* kSizeAccepted =
    "accepted: a positive number of bytes with an optional K, M, G or T suffix "
    "(binary units), e.g. 4G or 512M";
constexpr const char* kPmemAccepted =
    "accepted: file:/dir[,size=N], file:/path/existing-file[,size=N], devdax:/dev/daxX.Y, kmem, "
    "none";

std::string quoted(const std::string& text) { return "'" + text + "'"; }

Status env_error(const char* name, const std::string& text, const std::string& why) {
  return Status(Errc::invalid_argument, std::string(name) + "=" + quoted(text) + ": " + why);
}

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

EnvLookup process_env() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

Result<std::uint64_t> parse_size(const std::string& raw) {
  const std::string text = trim(raw);
  auto bad = [&](const std::string& why) {
    return Result<std::uint64_t>(Errc::invalid_argument,
                                 "bad size " + quoted(raw) + " (" + why + "); " + kSizeAccepted);
  };
  if (text.empty()) return bad("empty");
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  const std::string number = text.substr(0, i);
  if (number.empty()) return bad(text[0] == '-' ? "negative" : "no number");
  if (number.find('.') != number.rfind('.')) return bad("malformed number");
  std::string suffix = trim(text.substr(i));
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  unsigned shift = 0;
  if (!suffix.empty() && suffix != "B") {
    const std::string unit = suffix.substr(1);
    if (!(unit.empty() || unit == "B" || unit == "IB")) return bad("unknown suffix " + quoted(suffix));
    switch (suffix[0]) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: return bad("unknown suffix " + quoted(suffix));
    }
  }
  const long double value = std::strtold(number.c_str(), nullptr) * std::ldexp(1.0L, shift);
  if (!(value >= 1.0L)) return bad("must be at least one byte");
  if (value > static_cast<long double>(std::numeric_limits<std::uint64_t>::max() / 2))
    return bad("too large");
  if (value != std::floor(value)) return bad("not a whole number of bytes");
  return static_cast<std::uint64_t>(value);
}

Result<PmemSpec> parse_pmem_spec(const std::string& raw) {
  const std::string text = trim(raw);
  auto bad = [&](const std::string& why) {
    return Result<PmemSpec>(Errc::invalid_argument, why + "; " + kPmemAccepted);
  };
  PmemSpec spec;
  if (text == "none") {
    spec.scheme = PmemSpec::Scheme::none;
    return spec;
  }
  if (text == "kmem") {
    spec.scheme = PmemSpec::Scheme::kmem;
    return spec;
  }
  const auto colon = text.find(':');
  if (colon == std::string::npos) return bad("unknown value");
  const std::string scheme = text.substr(0, colon);
  std::string rest = text.substr(colon + 1);
  if (scheme == "file") {
    spec.scheme = PmemSpec::Scheme::file;
    const auto comma = rest.find(',');
    if (comma != std::string::npos) {
      const std::string option = rest.substr(comma + 1);
      rest = rest.substr(0, comma);
      if (option.rfind("size=", 0) != 0) return bad("unknown option " + quoted(option));
      auto size = parse_size(option.substr(5));
      if (!size) return Result<PmemSpec>(size.status());
      spec.size_bytes = *size;
    }
  } else if (scheme == "devdax") {
    spec.scheme = PmemSpec::Scheme::devdax;
    if (rest.find(',') != std::string::npos) return bad("devdax takes no options");
  } else {
    return bad("unknown scheme " + quoted(scheme));
  }
  if (rest.empty() || rest[0] != '/') return bad("needs an absolute path after '" + scheme + ":'");
  spec.path = rest;
  return spec;
}

Result<Config> config_from_env(const EnvLookup& env) {
  Config config;
  auto read = [&](const char* name) -> std::optional<std::string> {
    const char* value = env(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  if (auto text = read("TENSORTIER_DRAM_LIMIT")) {
    auto size = parse_size(*text);
    if (!size) return env_error("TENSORTIER_DRAM_LIMIT", *text, size.status().message());
    config.dram_limit_bytes = *size;
  }
  if (auto text = read("TENSORTIER_PMEM")) {
    auto spec = parse_pmem_spec(*text);
    if (!spec) return env_error("TENSORTIER_PMEM", *text, spec.status().message());
    config.pmem = *spec;
  }
  if (auto text = read("TENSORTIER_MIN_SIZE")) {
    auto size = parse_size(*text);
    if (!size) return env_error("TENSORTIER_MIN_SIZE", *text, size.status().message());
    config.min_managed_bytes = *size;
  }
  if (auto text = read("TENSORTIER_STATS")) {
    if (trim(*text).empty())
      return env_error("TENSORTIER_STATS", *text, "empty; accepted: a file path, or - for stderr");
    config.stats_path = *text;
  }
  if (auto text = read("TENSORTIER_TOPOLOGY_XML")) {
    if (trim(*text).empty())
      return env_error("TENSORTIER_TOPOLOGY_XML", *text, "empty; accepted: an hwloc XML file path");
    config.topology_xml = *text;
  }
  return config;
}

std::string pmem_spec_text(const PmemSpec& spec) {
  switch (spec.scheme) {
    case PmemSpec::Scheme::temp_file: return "(unset: emulated PMem file in $TMPDIR or /tmp)";
    case PmemSpec::Scheme::none: return "none";
    case PmemSpec::Scheme::kmem: return "kmem";
    case PmemSpec::Scheme::devdax: return "devdax:" + spec.path;
    case PmemSpec::Scheme::file: {
      std::string text = "file:" + spec.path;
      if (spec.size_bytes) text += ",size=" + std::to_string(*spec.size_bytes);
      return text;
    }
  }
  return "?";
}

std::string format_bytes(std::uint64_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", value, units[unit]);
  return buf;
}

}  // namespace tensortier
