// Combines the steps of requests that run at the same time on different threads into batched
// steps (generate/batch_step.h): each request keeps its own loop (sampling, stop rules,
// deadline control, streaming) and hands its prefill and each decode step here; one thread of
// the batcher's own runs every step (one OpenMP team: the requests' threads sleep meanwhile
// instead of spinning against it). Requests join and leave between steps. A step waits for
// the other members' next step at most `gather` (they are sampling or streaming a token), so a
// straggler never stalls the rest.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "generate/batch_step.h"

namespace adallava {

// Which pending steps run together next, at `now_ms` on the steady clock: indices into
// `pending`, the decode steps by due time, then the prefills by due time. A step is predicted to
// cost its dearest decode entry, each prefill's own cost, and `row_ms` for every entry after the
// first (what one more request's rows add to a step: its compute and the units its plan adds to
// the others'). Decode steps all go (a decode row adds little to a step that reads the weights
// anyway), up to `max`. A prefill joins unless it would make the step end after the due time of
// an entry in it and it can still wait a step; the entry due first always runs. A step marked
// alone (a FastV prompt) runs by itself.
std::vector<size_t> choose_step(const std::vector<StepTiming>& pending, const std::vector<bool>& alone, double now_ms,
                                size_t max, double row_ms = 0);

// The per-entry cost of a step, learned from decode steps whose entries all carry a predicted
// cost: a step of n entries that took `step_ms` against `dearest_ms` for its dearest entry gives
// (step_ms - dearest_ms) / (n - 1), clamped to [0, dearest_ms] so that one stall cannot blow it
// up, and moves the estimate a fifth of the way there.
double learn_row_ms(double row_ms, double step_ms, double dearest_ms, size_t n);

class StepBatcher {
 public:
  // Steps run with the calling thread's OpenMP thread count.
  explicit StepBatcher(std::chrono::microseconds gather = std::chrono::microseconds(3000));
  ~StepBatcher();
  StepBatcher(const StepBatcher&) = delete;
  StepBatcher& operator=(const StepBatcher&) = delete;

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
  // The learned cost of one more entry in a step (learn_row_ms), in ms.
  double row_ms() const;

 private:
  struct Pending;
  void loop(int threads);
  // Takes the next step's entries, runs them, marks them done.
  void step(std::unique_lock<std::mutex>& lock);

  const std::chrono::microseconds gather_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int members_ = 0;
  bool stopping_ = false;
  std::vector<Pending*> pending_;
  int64_t steps_ = 0, entries_ = 0;
  double row_ms_ = 0;
  std::chrono::steady_clock::time_point last_step_end_;
  std::thread runner_;
};

}  // namespace adallava
