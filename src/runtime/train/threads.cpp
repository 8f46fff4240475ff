#include "runtime/train/threads.hpp"

#include <omp.h>

namespace tensortier::runtime::train {

int set_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
  return omp_get_max_threads();
}

int max_threads() { return omp_get_max_threads(); }

}  // namespace tensortier::runtime::train
