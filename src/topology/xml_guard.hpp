// Reading an hwloc XML topology file and proving hwloc can load it before the
// calling process does: hwloc 2.9 segfaults on XML whose objects lack
// complete_cpuset/complete_nodeset, and a bad file must never crash the caller.
#pragma once

#include <mutex>
#include <string>

#include "tensortier/status.hpp"

namespace tensortier::topology_detail {

// The bytes of the hwloc XML file at `path`, returned only after a throwaway
// child process has loaded exactly these bytes with hwloc and exited cleanly.
// Errors name the path: not_found (no such file), io_error (unreadable, fork
// failed) or invalid_argument (a directory, empty, not XML, rejected by hwloc
// or crashing hwloc).
Result<std::string> read_probed_topology_xml(const std::string& path);

// Held by tensortier around every hwloc call and around the probe's fork(), so
// no thread of ours holds an hwloc or libxml2 global lock that the forked
// child would inherit locked and deadlock on.
std::mutex& hwloc_lock();

}  // namespace tensortier::topology_detail
