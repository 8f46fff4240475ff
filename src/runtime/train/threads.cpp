#include "runtime/train/threads.hpp"

#include <sched.h>

#include <omp.h>

namespace tensortier::runtime::train {

int set_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
  return omp_get_max_threads();
}

int max_threads() { return omp_get_max_threads(); }

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}

}  // namespace tensortier::runtime::train
