// The threads that run the engine: --parallel of them, long-lived, so that the per-thread state
// of a request (OpenMP's thread team, the decoder's scratch buffers) exists once per slot, not
// once per HTTP connection thread. A connection thread hands its request over and waits.
#pragma once
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace adallava::server {

class Workers {
 public:
  explicit Workers(int n);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs f on a worker and returns when it is done, rethrowing what it threw.
  void run(const std::function<void()>& f);

 private:
  struct Task {
    const std::function<void()>* f;
    std::exception_ptr error;
    bool done = false;
  };
  std::mutex mu_;
  std::condition_variable ready_, finished_;
  std::deque<Task*> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace adallava::server
