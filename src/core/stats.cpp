#include "tensortier/stats.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

namespace tensortier {

std::string stats_to_json(const Stats& s) {
  nlohmann::json tiers = nlohmann::json::array();
  for (const auto& t : s.tiers)
    tiers.push_back({{"name", t.name},
                     {"kind", t.kind},
                     {"limit_bytes", t.limit_bytes},
                     {"current_bytes", t.current_bytes},
                     {"peak_bytes", t.peak_bytes},
                     {"peak_live_bytes", t.peak_live_bytes},
                     {"cached_bytes", t.cached_bytes},
                     {"blocks", t.blocks}});
  nlohmann::json doc = {
      {"tiers", tiers},
      {"migrations",
       {{"demotions", s.demotions},
        {"promotions", s.promotions},
        {"bytes_demoted", s.bytes_demoted},
        {"bytes_promoted", s.bytes_promoted},
        {"seconds", s.migration_seconds},
        {"projected_optane_seconds", s.projected_optane_seconds}}},
      {"allocations", s.allocations},
      {"frees", s.frees},
      {"failed_allocations", s.failed_allocations},
      {"barrier_faults", s.barrier_faults},
      {"touch_faults", s.touch_faults},
      {"direct_accesses", s.direct_accesses},
      {"policy", s.policy}};
  return doc.dump(2);
}

bool write_stats_file(const Stats& stats, const std::string& path) noexcept {
  try {
    const std::string json = stats_to_json(stats) + "\n";
    FILE* out = path == "-" ? stderr : std::fopen(path.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "tensortier: TENSORTIER_STATS='%s': cannot write: %s\n", path.c_str(),
                   std::strerror(errno));
      return false;
    }
    const bool ok = std::fwrite(json.data(), 1, json.size(), out) == json.size();
    if (out == stderr)
      std::fflush(out);
    else if (std::fclose(out) != 0)
      return false;
    return ok;
  } catch (...) {
    return false;
  }
}

}  // namespace tensortier
