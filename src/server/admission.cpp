#include "server/admission.h"

namespace adallava::server {

Admission::Slot& Admission::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    release();
    a_ = o.a_;
    o.a_ = nullptr;
  }
  return *this;
}

void Admission::Slot::release() {
  if (a_) a_->leave();
  a_ = nullptr;
}

Admission::Outcome Admission::enter(std::optional<Clock::time_point> deadline, Slot* slot) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return Outcome::ShuttingDown;
  if (int(waiting_.size()) >= capacity_ && running_ >= slots_) return Outcome::QueueFull;
  const Key key{deadline.value_or(Clock::time_point::max()), arrivals_++};
  waiting_.insert(key);
  const auto my_turn = [&] { return stopping_ || (running_ < slots_ && *waiting_.begin() == key); };
  bool ready = deadline ? cv_.wait_until(lock, *deadline, my_turn) : (cv_.wait(lock, my_turn), true);
  waiting_.erase(key);
  if (stopping_) ready = false;
  if (!ready) {
    cv_.notify_all();  // the next in line may go now
    return stopping_ ? Outcome::ShuttingDown : Outcome::DeadlinePassed;
  }
  ++running_;
  cv_.notify_all();
  *slot = Slot(this);
  return Outcome::Admitted;
}

void Admission::leave() {
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  cv_.notify_all();
}

void Admission::shut_down() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

int Admission::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int(waiting_.size());
}

int Admission::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_;
}

}  // namespace adallava::server
