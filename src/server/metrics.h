// The server's counters and histograms, rendered in Prometheus' text format for GET /metrics.
// Thread-safe; every request records once, when it ends.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace adallava::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // name_bucket{le=...}, name_sum, name_count lines.
  std::string render(const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// What one finished request adds.
struct RequestRecord {
  int status = 200;
  double latency_s = 0, queue_s = 0;
  bool answered = false;       // 200: the engine ran it
  double executed_fraction = 1;
  long prompt_tokens = 0, completion_tokens = 0;
  bool has_deadline = false, deadline_met = true;
};

class Metrics {
 public:
  Metrics();
  void record(const RequestRecord& r);
  void set_queue(int waiting, int running);
  // The engine's batched steps so far and the request steps they held (serve --parallel).
  void set_batching(int64_t steps, int64_t entries, double row_ms);
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> by_status_;
  uint64_t deadline_requests_ = 0, deadline_misses_ = 0, prompt_tokens_ = 0, completion_tokens_ = 0;
  int waiting_ = 0, running_ = 0;
  int64_t batch_steps_ = -1, batch_entries_ = 0;  // -1: not batching
  double batch_row_ms_ = 0;
  Histogram latency_, queue_, fraction_;
};

}  // namespace adallava::server
