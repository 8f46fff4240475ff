// The std::pmr::memory_resource adapter over an Allocator (allocator.hpp):
// pmr containers get tiered blocks with the resource's placement hint.
#include <cstddef>
#include <memory_resource>

#include "tensortier/allocator.hpp"

namespace tensortier {

void* MemoryResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  return allocator_.allocate(bytes == 0 ? 1 : bytes, alignment, hint_);
}

void MemoryResource::do_deallocate(void* ptr, std::size_t, std::size_t) {
  allocator_.deallocate(ptr);  // a foreign pointer is reported, never freed
}

bool MemoryResource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  const auto* o = dynamic_cast<const MemoryResource*>(&other);
  return o != nullptr && &o->allocator_ == &allocator_;
}

}  // namespace tensortier
