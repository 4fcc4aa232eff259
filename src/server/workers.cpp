#include "server/workers.h"

namespace adallava::server {

Workers::Workers(int n) {
  for (int i = 0; i < n; ++i)
    threads_.emplace_back([this] {
      for (;;) {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, nothing left
        Task* t = tasks_.front();
        tasks_.pop_front();
        lock.unlock();
        try {
          (*t->f)();
        } catch (...) {
          t->error = std::current_exception();
        }
        lock.lock();
        t->done = true;
        finished_.notify_all();
      }
    });
}

Workers::~Workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Workers::run(const std::function<void()>& f) {
  Task t{&f, nullptr, false};
  std::unique_lock<std::mutex> lock(mu_);
  tasks_.push_back(&t);
  ready_.notify_one();
  finished_.wait(lock, [&] { return t.done; });
  if (t.error) std::rethrow_exception(t.error);
}

}  // namespace adallava::server
