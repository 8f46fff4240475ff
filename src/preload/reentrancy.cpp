#include "preload/reentrancy.hpp"

namespace tensortier::preload {

__thread int t_inside_depth = 0;

}  // namespace tensortier::preload
