// The background mover: one thread that performs queued asynchronous moves
// (prefetch = promote ahead of use, demote after use) so migration overlaps
// the caller's compute. It knows nothing of blocks; it runs the allocator's
// move function on each request in order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tensortier::detail {

enum class MoveKind { promote, demote };

struct MoveRequest {
  std::uintptr_t addr = 0;
  MoveKind kind = MoveKind::promote;
  // Which allocation at addr the request is for: a block freed while its
  // request waited is not moved, nor the block allocated at its address since.
  std::uint64_t serial = 0;
};

class Mover {
 public:
  explicit Mover(std::function<void(const MoveRequest&)> run);
  ~Mover();  // finishes queued requests, then stops
  Mover(const Mover&) = delete;
  Mover& operator=(const Mover&) = delete;

  void enqueue(const MoveRequest& request);
  // Returns when the queue is empty and no request is running.
  void wait_idle();
  std::size_t pending() const;

 private:
  void loop();
  std::function<void(const MoveRequest&)> run_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<MoveRequest> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tensortier::detail
