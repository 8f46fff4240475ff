// Threads of the compute (oneDNN and the loss/optimizer loops run on OpenMP).
#pragma once

namespace tensortier::runtime::train {

// Sets the OpenMP thread count for later parallel regions; n <= 0 keeps the
// default (OMP_NUM_THREADS, else one per CPU). Returns the count in effect.
int set_threads(int n);
int max_threads();
// CPUs this process may run on (its affinity mask), at least 1.
int usable_cpus();

}  // namespace tensortier::runtime::train
