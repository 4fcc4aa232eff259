#include "server/metrics.h"

#include <sstream>

namespace adallava::server {

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::ostringstream o;
  o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    o << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cumulative << "\n";
  }
  o << name << "_bucket{le=\"+Inf\"} " << count_ << "\n" << name << "_sum " << sum_ << "\n"
    << name << "_count " << count_ << "\n";
  return o.str();
}

Metrics::Metrics()
    : latency_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      queue_({0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      fraction_({0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}) {}

void Metrics::record(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  ++by_status_[r.status];
  latency_.observe(r.latency_s);
  if (r.answered) {
    queue_.observe(r.queue_s);
    fraction_.observe(r.executed_fraction);
    prompt_tokens_ += uint64_t(r.prompt_tokens);
    completion_tokens_ += uint64_t(r.completion_tokens);
  }
  if (r.has_deadline) {
    ++deadline_requests_;
    deadline_misses_ += !r.deadline_met;
  }
}

void Metrics::set_queue(int waiting, int running) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_ = waiting, running_ = running;
}

void Metrics::set_batching(int64_t steps, int64_t entries, double row_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  batch_steps_ = steps, batch_entries_ = entries, batch_row_ms_ = row_ms;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP adallava_requests_total Requests to /v1/chat/completions by HTTP status.\n"
       "# TYPE adallava_requests_total counter\n";
  for (const auto& [status, n] : by_status_) o << "adallava_requests_total{status=\"" << status << "\"} " << n << "\n";
  auto counter = [&o](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n" << name << " " << v << "\n";
  };
  auto gauge = [&o](const char* name, const char* help, int v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << v << "\n";
  };
  counter("adallava_deadline_requests_total", "Requests that carried a deadline (refused ones included).",
          deadline_requests_);
  counter("adallava_deadline_misses_total", "Requests with a deadline that missed it or were refused for it.",
          deadline_misses_);
  counter("adallava_prompt_tokens_total", "Prompt rows of answered requests.", prompt_tokens_);
  counter("adallava_completion_tokens_total", "Tokens generated for answered requests.", completion_tokens_);
  gauge("adallava_queue_waiting", "Requests waiting for a slot.", waiting_);
  gauge("adallava_requests_running", "Requests running in the engine.", running_);
  if (batch_steps_ >= 0) {
    counter("adallava_batch_steps_total", "Batched engine steps (each one pass over the weights).",
            uint64_t(batch_steps_));
    counter("adallava_batch_request_steps_total", "Request steps (prefills and tokens) those steps ran.",
            uint64_t(batch_entries_));
    o << "# HELP adallava_batch_entry_seconds What one more request adds to a batched step, as learned from its steps.\n"
         "# TYPE adallava_batch_entry_seconds gauge\nadallava_batch_entry_seconds "
      << batch_row_ms_ / 1000 << "\n";
  }
  o << latency_.render("adallava_request_seconds", "Time from arrival to the last byte of the answer.");
  o << queue_.render("adallava_queue_seconds", "Time answered requests waited for a slot.");
  o << fraction_.render("adallava_executed_fraction", "Share of the decoder's matrix work the plan ran.");
  return o.str();
}

}  // namespace adallava::server
