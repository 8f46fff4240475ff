// fork() of a tiered process. The prepare handler takes the operation lock
// exclusively, so the child never inherits the core mid-operation. The child
// then runs untiered: the core's mover thread does not exist there, and the
// PMem tier is a MAP_SHARED file the parent keeps using — a child that
// demoted, promoted or freed into it would corrupt the parent's blocks. So,
// in the child:
//  - blocks held in PMem (shared file mappings in the virtual range) are
//    copied into private memory at the same address, guards removed — the
//    child sees exactly the contents at fork time, and its writes stay its own;
//  - new allocations come from the system allocator;
//  - free() of an inherited block unmaps it in the child only;
//  - the core is never called again except for read-only lookups.
// A child of a process that never created the tiers creates its own, fresh.
#pragma once

namespace tensortier::preload {

// pthread_atfork, from the library constructor: registered early, so the
// prepare handler runs after those of libraries loaded later (it must come
// last, as glibc's own malloc lock does).
void register_fork_handlers() noexcept;

// free() in a fork child of a block inherited from the parent.
void release_inherited_block(void* ptr) noexcept;

}  // namespace tensortier::preload
