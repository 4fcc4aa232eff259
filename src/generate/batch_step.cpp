#include "generate/batch_step.h"

#include <algorithm>
#include <cstring>

#include "model/batched_layers.h"
#include "tensor/error.h"

namespace adallava {

namespace {

void check_batch(const std::vector<BatchEntry>& batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchEntry& e = batch[i];
    if (!e.session || !e.logits || (e.prompt && !e.report) || (!e.prompt && e.token < 0))
      throw Error("internal: batch entry " + std::to_string(i) + " is incomplete");
    for (size_t j = 0; j < i; ++j)
      if (batch[j].session == e.session) throw Error("internal: a session appears twice in one batched step");
  }
}

}  // namespace

// The parts of a step that reach into a session (a friend of Session).
struct BatchedPrefill {
  struct Part;
  static Part decode_part(const LlamaDecoder& d, Session& s, int64_t token);
  static Part prompt_part(BatchEntry& e, int P, int N, int64_t H);
  static void commit(BatchEntry& e, Part& p, int P, int N, int64_t H);
};

// One entry's rows in this step: a decoded token, a whole prompt, or a chunk of one.
struct BatchedPrefill::Part {
  std::vector<float> x;      // the rows, updated by the layers they go through
  std::vector<int64_t> pos;  // their positions
  bool prefix = false, rest = false;  // through layers [0, P), [P, N)
  bool finishes = false;              // logits of the last row this step
  // A prompt: its first row in this step, and the rows begin_prefill gave when it began now.
  int64_t r0 = 0;
  bool begun = false;
  std::vector<float> begun_rows;
};

BatchedPrefill::Part BatchedPrefill::decode_part(const LlamaDecoder& d, Session& s, int64_t token) {
  Part p;
  p.x.resize(size_t(d.hidden()));
  d.embed(p.x.data(), &token, 1);
  p.pos = {s.cache_.length()};
  p.prefix = p.rest = p.finishes = true;
  return p;
}

// A prompt's rows for this step: the next chunk through the prefix layers until every row went
// through them, then the next chunk through the rest. A whole prompt does both in one step.
BatchedPrefill::Part BatchedPrefill::prompt_part(BatchEntry& e, int P, int N, int64_t H) {
  Session& s = *e.session;
  Part p;
  if (!s.chunked_.active) {
    *e.report = PlanReport{};
    p.begun_rows = s.begin_prefill(e.prompt->embeds.data(), e.prompt->rows, e.request, *e.report, nullptr);
    p.begun = true;
  }
  const std::vector<float>& rows = p.begun ? p.begun_rows : s.chunked_.x;
  const int64_t total = int64_t(s.kept_.size());
  const int64_t chunk = e.chunk_rows > 0 ? std::min(e.chunk_rows, total) : total;
  const int64_t done_prefix = p.begun ? 0 : s.chunked_.prefix_done;
  p.prefix = done_prefix < total;
  p.r0 = p.prefix ? done_prefix : s.chunked_.rest_done;
  const int64_t n = std::min(chunk, total - p.r0);
  p.x.assign(rows.begin() + p.r0 * H, rows.begin() + (p.r0 + n) * H);
  p.pos.assign(s.kept_.begin() + p.r0, s.kept_.begin() + p.r0 + n);
  p.rest = !p.prefix || chunk == total;
  p.finishes = p.r0 + n == total && (p.rest || P == N);
  return p;
}

// What the step did to a session: its cache's rows, and a chunked prompt's progress.
void BatchedPrefill::commit(BatchEntry& e, Part& p, int P, int N, int64_t H) {
  Session& s = *e.session;
  const int64_t n = int64_t(p.pos.size());
  if (!e.prompt) return s.cache_.set_length(s.cache_.length() + n);
  const int64_t total = int64_t(s.kept_.size());
  if (p.finishes) {
    s.cache_.set_length(s.cache_.length() + total);
    s.end_prefill(total, total, *e.report);
    s.chunked_ = {};
    return;
  }
  Session::Chunked& c = s.chunked_;
  if (p.begun) c = {std::move(p.begun_rows), 0, 0, true};
  std::copy(p.x.begin(), p.x.end(), c.x.begin() + p.r0 * H);
  if (p.prefix) {
    c.prefix_done += n;
    s.cache_.put_ahead(0, P, n);
  } else {
    c.rest_done += n;
    s.cache_.put_ahead(P, N, n);
  }
}

void step_batch(std::vector<BatchEntry>& batch) {
  check_batch(batch);
  std::vector<BatchEntry*> group;  // the entries that run together (FastV prompts run alone)
  for (BatchEntry& e : batch) {
    if (e.prompt && e.prompt->fastv)
      *e.report = e.session->prefill(e.prompt->embeds.data(), e.prompt->rows, e.request, *e.logits, false, nullptr,
                                     e.prompt->fastv_request());
    else
      group.push_back(&e);
  }
  if (group.empty()) return;
  const LlavaModel& model = group[0]->session->model_;
  const Precision precision = group[0]->session->precision_;
  for (const BatchEntry* e : group)
    if (&e->session->model_ != &model || e->session->precision_ != precision)
      throw Error("internal: a batched step needs one model and one precision");
  const LlamaDecoder& d = model.decoder();
  const int64_t H = d.hidden();
  const int N = d.config().num_layers, P = group[0]->session->plan_layer();

  using Part = BatchedPrefill::Part;
  std::vector<Part> parts;
  for (BatchEntry* e : group)
    parts.push_back(e->prompt ? BatchedPrefill::prompt_part(*e, P, N, H)
                                : BatchedPrefill::decode_part(d, *e->session, e->token));
  // The layers before the plan is chosen, then the rest. Nothing is committed to a session
  // before the end (a failed step is run again entry by entry).
  for (auto [l0, l1] : {std::pair{0, P}, std::pair{P, N}}) {
    if (l0 == l1) continue;
    std::vector<RequestRows> rows;
    for (size_t i = 0; i < parts.size(); ++i) {
      Part& p = parts[i];
      Session& s = *group[i]->session;
      if (!(l0 == 0 ? p.prefix : p.rest)) continue;
      // A prompt whose last row went through the prefix: the scheduler picks its plan now.
      if (l0 == P && group[i]->prompt && p.prefix)
        s.choose_plan(p.x.data(), int64_t(p.pos.size()), group[i]->request, *group[i]->report);
      s.cache_.allocate(s.plan_, d.config().num_kv_heads, l0, l1);
      rows.push_back(RequestRows{p.x.data(), int64_t(p.pos.size()), p.pos.data(), &s.cache_, &s.plan_});
    }
    if (!rows.empty()) run_layers_batched(d, rows, l0, l1, precision);
    if (l0 == 0)  // the last chunk through the prefix chooses the plan even when the rest waits
      for (size_t i = 0; i < parts.size(); ++i) {
        Part& p = parts[i];
        const int64_t n = int64_t(p.pos.size());
        if (group[i]->prompt && p.prefix && !p.rest && p.r0 + n == int64_t(group[i]->session->kept_.size()))
          group[i]->session->choose_plan(p.x.data(), n, group[i]->request, *group[i]->report);
      }
  }
  // Every finishing request's last row through the final norm and lm_head in one product.
  std::vector<size_t> fin;
  for (size_t i = 0; i < parts.size(); ++i)
    if (parts[i].finishes) fin.push_back(i);
  const int64_t n = int64_t(fin.size()), V = d.vocab();
  std::vector<float> last(size_t(n * H)), normed(size_t(n * H)), logits(size_t(n * V));
  for (int64_t k = 0; k < n; ++k) {
    const Part& p = parts[fin[size_t(k)]];
    std::memcpy(last.data() + k * H, p.x.data() + (int64_t(p.pos.size()) - 1) * H, size_t(H) * 4);
  }
  if (n > 0) {
    d.final_norm(normed.data(), last.data(), n);
    d.lm_head(logits.data(), normed.data(), n, precision);
  }
  for (int64_t k = 0; k < n; ++k)
    group[fin[size_t(k)]]->logits->assign(logits.begin() + k * V, logits.begin() + (k + 1) * V);
  for (size_t i = 0; i < parts.size(); ++i) BatchedPrefill::commit(*group[i], parts[i], P, N, H);
}

}  // namespace adallava
