#include "backends/kmem_nodes.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace tensortier::detail {

std::vector<int> kmem_dax_nodes() {
  namespace fs = std::filesystem;
  std::vector<int> nodes;
  std::error_code ec;
  for (fs::directory_iterator it("/sys/bus/dax/devices", ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path driver = fs::read_symlink(it->path() / "driver", ec);
    if (ec || driver.filename() != "kmem") {
      ec.clear();
      continue;
    }
    std::ifstream in(it->path() / "target_node");
    int node = -1;
    if (in >> node && node >= 0) nodes.push_back(node);
  }
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

}  // namespace tensortier::detail
