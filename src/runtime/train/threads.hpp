// Threads of the compute (oneDNN and the loss/optimizer loops run on OpenMP).
#pragma once

namespace tensortier::runtime::train {

// Sets the OpenMP thread count for later parallel regions; n <= 0 keeps the
// default (OMP_NUM_THREADS, else one per CPU). Returns the count in effect.
int set_threads(int n);
int max_threads();

}  // namespace tensortier::runtime::train
