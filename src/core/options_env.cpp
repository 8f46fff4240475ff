// TENSORTIER_POLICY and TENSORTIER_OPTANE, on top of config_from_env().
#include <cstdlib>
#include <sstream>

#include "tensortier/allocator.hpp"

namespace tensortier {
namespace {

constexpr const char* kOptaneAccepted =
    "accepted: off, on, or dimms=N[,read=GBPS][,write=GBPS] (e.g. dimms=6,write=2.3)";

Status optane_error(const std::string& text, const std::string& why) {
  return Status(Errc::invalid_argument,
                "TENSORTIER_OPTANE='" + text + "': " + why + "; " + kOptaneAccepted);
}

Result<double> positive_number(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(value > 0) || value > 1e6)
    return Result<double>(Errc::invalid_argument, "bad number '" + text + "'");
  return value;
}

Result<OptaneThrottle> parse_optane(const std::string& text) {
  OptaneThrottle throttle;
  if (text == "off") return throttle;
  throttle.enabled = true;
  if (text == "on") return throttle;
  // Without these checks "" and "dimms=2," were taken as "on" / "dimms=2".
  if (text.empty()) return Result<OptaneThrottle>(optane_error(text, "empty"));
  if (text.back() == ',') return Result<OptaneThrottle>(optane_error(text, "empty item at the end"));
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) return Result<OptaneThrottle>(optane_error(text, "unknown item '" + item + "'"));
    const std::string key = item.substr(0, eq);
    auto value = positive_number(item.substr(eq + 1));
    if (!value) return Result<OptaneThrottle>(optane_error(text, value.status().message()));
    if (key == "dimms" && *value != static_cast<unsigned>(*value))
      return Result<OptaneThrottle>(optane_error(text, "dimms must be a whole number"));
    if (key == "dimms")
      throttle.dimms = static_cast<unsigned>(*value);
    else if (key == "read")
      throttle.read_gbps_per_dimm = *value;
    else if (key == "write")
      throttle.write_gbps_per_dimm = *value;
    else
      return Result<OptaneThrottle>(optane_error(text, "unknown item '" + item + "'"));
  }
  return throttle;
}

}  // namespace

const char* policy_name(Policy policy) noexcept {
  switch (policy) {
    case Policy::lru: return "lru";
    case Policy::next_use: return "next_use";
    case Policy::static_placement: return "static";
  }
  return "?";
}

Result<Policy> parse_policy(const std::string& text) {
  if (text == "lru") return Policy::lru;
  if (text == "next_use") return Policy::next_use;
  if (text == "static") return Policy::static_placement;
  return Result<Policy>(Errc::invalid_argument,
                        "unknown policy '" + text + "'; accepted: lru, next_use, static");
}

Result<AllocatorOptions> allocator_options_from_env(const EnvLookup& env) {
  AllocatorOptions options;
  auto config = config_from_env(env);
  if (!config) return Result<AllocatorOptions>(config.status());
  options.config = *config;
  if (const char* text = env("TENSORTIER_POLICY")) {
    auto policy = parse_policy(text);
    if (!policy)
      return Result<AllocatorOptions>(
          policy.status().with_context("TENSORTIER_POLICY='" + std::string(text) + "'"));
    options.policy = *policy;
  }
  if (const char* text = env("TENSORTIER_OPTANE")) {
    auto throttle = parse_optane(text);
    if (!throttle) return Result<AllocatorOptions>(throttle.status());
    options.throttle = *throttle;
  }
  return options;
}

}  // namespace tensortier
