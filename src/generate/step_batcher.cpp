#include "generate/step_batcher.h"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <limits>

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

double StepBatcher::row_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return row_ms_;
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
    // Step once every member has its step here, or after `gather` from the later of the oldest
    // entry's arrival and the last step's end (the members of that step sample their next token
    // and come back; without this wait, two halves of the members would alternate).
    const auto until = std::max(pending_.front()->since, last_step_end_) + gather_;
    if (int(pending_.size()) >= members_ || std::chrono::steady_clock::now() >= until)
      step(lock);
    else
      cv_.wait_until(lock, until);
  }
}

std::vector<size_t> choose_step(const std::vector<StepTiming>& pending, const std::vector<bool>& alone, double now_ms,
                                size_t max, double row_ms) {
  std::vector<size_t> order(pending.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pending[a].due_ms < pending[b].due_ms; });
  if (order.empty()) return {};
  if (alone[order[0]]) return {order[0]};
  std::vector<size_t> take;
  double base = 0, due = std::numeric_limits<double>::infinity();  // the decode steps' cost, the tightest due
  double dearest = 0;
  for (size_t i : order)
    if (!alone[i] && !pending[i].prefill && take.size() < max) {
      take.push_back(i);
      dearest = std::max(dearest, pending[i].cost_ms);
      base = dearest + row_ms * double(take.size() - 1);
      due = std::min(due, pending[i].due_ms);
    }
  double prefills = 0;
  for (size_t i : order) {
    const StepTiming& t = pending[i];
    if (alone[i] || !t.prefill || take.size() >= max) continue;
    const double end = now_ms + base + prefills + t.cost_ms + (take.empty() ? 0 : row_ms);
    const bool fits = end <= std::min(due, t.due_ms);
    const bool first = i == order[0];
    const bool cannot_wait = end + base > t.due_ms;  // one more step without it makes it late
    if (!fits && !first && !cannot_wait) continue;
    prefills += t.cost_ms + (take.empty() ? 0 : row_ms);
    take.push_back(i);
    due = std::min(due, t.due_ms);
  }
  return take;
}

double learn_row_ms(double row_ms, double step_ms, double dearest_ms, size_t n) {
  if (n < 2 || !(dearest_ms > 0)) return row_ms;
  const double sample = std::clamp((step_ms - dearest_ms) / double(n - 1), 0.0, dearest_ms);
  return row_ms + 0.2 * (sample - row_ms);
}

namespace {
// A FastV prompt prefills alone (step_batch would run it apart anyway).
bool alone(const BatchEntry& e) { return e.prompt && e.prompt->fastv; }
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void StepBatcher::step(std::unique_lock<std::mutex>& lock) {
  std::vector<StepTiming> timing;
  std::vector<bool> solo;
  for (const Pending* p : pending_) {
    timing.push_back(p->entry.timing);
    solo.push_back(alone(p->entry));
  }
  std::vector<size_t> chosen = choose_step(timing, solo, now_ms(), size_t(kMaxBatch), row_ms_);
  std::sort(chosen.begin(), chosen.end());
  std::vector<Pending*> take;
  for (size_t k = chosen.size(); k-- > 0;) {  // from the back, so the indices stay valid
    take.insert(take.begin(), pending_[chosen[k]]);
    pending_.erase(pending_.begin() + long(chosen[k]));
  }
  ++steps_;
  entries_ += int64_t(take.size());
  lock.unlock();
  std::vector<BatchEntry> batch;
  double dearest = 0;  // learn from decode steps whose entries all carry a cost
  for (Pending* p : take) {
    batch.push_back(p->entry);
    const StepTiming& t = p->entry.timing;
    dearest = t.prefill || !(t.cost_ms > 0) || dearest < 0 ? -1 : std::max(dearest, t.cost_ms);
  }
  const double t0 = now_ms();
  try {
    step_batch(batch);
  } catch (...) {
    dearest = -1;  // the entries ran again one by one: no lesson in this step's time
    // Which request failed? Run each alone, so an error reaches only the request it belongs to.
    // A failed step advanced no cache (lengths move only at its end), so running again is safe.
    for (Pending* p : take) try {
        std::vector<BatchEntry> one = {p->entry};
        step_batch(one);
      } catch (...) {
        p->error = std::current_exception();
      }
  }
  const double took = now_ms() - t0;
  lock.lock();
  row_ms_ = learn_row_ms(row_ms_, took, dearest, take.size());
  last_step_end_ = std::chrono::steady_clock::now();
  for (Pending* p : take) p->done = true;
  cv_.notify_all();
}

}  // namespace adallava
