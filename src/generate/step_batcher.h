// Combines the steps of requests that run at the same time on different threads into batched
// steps (generate/batch_step.h): each request keeps its own loop (sampling, stop rules,
// deadline control, streaming) and hands its prefill and each decode step here; whichever
// thread arrives when no step is running leads the next step for everything pending. Requests
// join and leave between steps. The leader waits for the other members' next step at most
// `gather` (they are sampling or streaming a token), so a straggler never stalls the rest.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "generate/batch_step.h"

namespace adallava {

class StepBatcher {
 public:
  explicit StepBatcher(std::chrono::microseconds gather = std::chrono::microseconds(3000)) : gather_(gather) {}

  // A request taking part, from its prefill to its last decoded token.
  class Member {
   public:
    explicit Member(StepBatcher& b);
    ~Member();
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

   private:
    StepBatcher& b_;
  };

  // Runs the entry in the next combined step and returns when it ran; rethrows its own error.
  void run(const BatchEntry& e);
  // Steps run so far and the requests they held (the mean batch = entries / steps).
  int64_t steps() const;
  int64_t entries() const;

 private:
  struct Pending;
  void lead(std::unique_lock<std::mutex>& lock);

  const std::chrono::microseconds gather_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int members_ = 0;
  bool stepping_ = false;
  std::vector<Pending*> pending_;
  int64_t steps_ = 0, entries_ = 0;
};

}  // namespace adallava
