#include "core/mover.hpp"

namespace tensortier::detail {

Mover::Mover(std::function<void(const MoveRequest&)> run)
    : run_(std::move(run)), thread_([this] { loop(); }) {}

Mover::~Mover() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Mover::enqueue(const MoveRequest& request) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(request);
  }
  wake_.notify_one();
}

void Mover::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

std::size_t Mover::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + (busy_ ? 1 : 0);
}

void Mover::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    const MoveRequest request = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    run_(request);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace tensortier::detail
