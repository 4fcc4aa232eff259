#include "generate/step_batcher.h"

#include <omp.h>

#include <exception>

#include "model/batched_layers.h"

namespace adallava {

struct StepBatcher::Pending {
  BatchEntry entry;
  std::chrono::steady_clock::time_point since;
  bool done = false;
  std::exception_ptr error;
};

StepBatcher::Member::Member(StepBatcher& b) : b_(b) {
  std::lock_guard<std::mutex> lock(b_.mu_);
  ++b_.members_;
}

StepBatcher::Member::~Member() {
  std::lock_guard<std::mutex> lock(b_.mu_);
  --b_.members_;
  b_.cv_.notify_all();  // a leader waiting for this member's next step stops waiting
}

int64_t StepBatcher::steps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_;
}

int64_t StepBatcher::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

StepBatcher::StepBatcher(std::chrono::microseconds gather) : gather_(gather) {
  runner_ = std::thread([this, threads = omp_get_max_threads()] { loop(threads); });
}

StepBatcher::~StepBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  runner_.join();
}

void StepBatcher::run(const BatchEntry& e) {
  Pending me{e, std::chrono::steady_clock::now(), false, nullptr};
  std::unique_lock<std::mutex> lock(mu_);
  pending_.push_back(&me);
  cv_.notify_all();
  cv_.wait(lock, [&] { return me.done; });
  if (me.error) std::rethrow_exception(me.error);
}

void StepBatcher::loop(int threads) {
  omp_set_num_threads(threads);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;  // members finish before the batcher goes (the engine outlives requests)
    // Step once every member has its step here, or the oldest has waited long enough.
    const auto until = pending_.front()->since + gather_;
    if (int(pending_.size()) >= members_ || std::chrono::steady_clock::now() >= until)
      step(lock);
    else
      cv_.wait_until(lock, until);
  }
}

namespace {
// A FastV prompt prefills alone (step_batch would run it apart anyway); the rest go together.
bool alone(const BatchEntry& e) { return e.prompt && e.prompt->fastv; }
}  // namespace

void StepBatcher::step(std::unique_lock<std::mutex>& lock) {
  std::vector<Pending*> take;
  for (auto it = pending_.begin(); it != pending_.end() && take.size() < size_t(kMaxBatch);) {
    const bool solo = alone((*it)->entry);
    if (solo && !take.empty()) {
      ++it;
      continue;
    }
    take.push_back(*it);
    it = pending_.erase(it);
    if (solo) break;
  }
  ++steps_;
  entries_ += int64_t(take.size());
  lock.unlock();
  std::vector<BatchEntry> batch;
  for (Pending* p : take) batch.push_back(p->entry);
  try {
    step_batch(batch);
  } catch (...) {
    // Which request failed? Run each alone, so an error reaches only the request it belongs to.
    // A failed step advanced no cache (lengths move only at its end), so running again is safe.
    for (Pending* p : take) try {
        std::vector<BatchEntry> one = {p->entry};
        step_batch(one);
      } catch (...) {
        p->error = std::current_exception();
      }
  }
  lock.lock();
  for (Pending* p : take) p->done = true;
  cv_.notify_all();
}

}  // namespace adallava
