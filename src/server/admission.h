// Who runs next: --parallel slots, and a bounded queue in which requests wait ordered by their
// deadline (earliest first; requests without one after them, in arrival order). A request whose
// deadline passes while it waits leaves the queue refused instead of running late.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

namespace adallava::server {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  Admission(int slots, int queue_capacity) : slots_(slots), capacity_(queue_capacity) {}

  enum class Outcome { Admitted, QueueFull, DeadlinePassed, ShuttingDown };
  // Holds a slot until destroyed (when admitted).
  class Slot {
   public:
    Slot() = default;
    explicit Slot(Admission* a) : a_(a) {}
    Slot(Slot&& o) noexcept : a_(o.a_) { o.a_ = nullptr; }
    Slot& operator=(Slot&& o) noexcept;
    ~Slot() { release(); }
    void release();

   private:
    Admission* a_ = nullptr;
  };

  // Waits for a slot. deadline: the absolute time by which the request must have finished.
  Outcome enter(std::optional<Clock::time_point> deadline, Slot* slot);
  // Refuses every waiting and later request (the server is stopping).
  void shut_down();
  int waiting() const;
  int running() const;

 private:
  void leave();
  // Waiting order: deadline (none = max), then arrival.
  using Key = std::tuple<Clock::time_point, uint64_t>;

  const int slots_, capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<Key> waiting_;
  uint64_t arrivals_ = 0;
  int running_ = 0;
  bool stopping_ = false;
};

}  // namespace adallava::server
