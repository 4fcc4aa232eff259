#include "generate/batch_step.h"

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

  std::vector<std::vector<float>> x(group.size());
  std::vector<std::vector<int64_t>> pos(group.size());
  std::vector<RequestRows> rows(group.size());
  for (size_t i = 0; i < group.size(); ++i) {
    BatchEntry& e = *group[i];
    Session& s = *e.session;
    if (e.prompt) {
      *e.report = PlanReport{};
      x[i] = s.begin_prefill(e.prompt->embeds.data(), e.prompt->rows, e.request, *e.report, nullptr);
      pos[i] = s.kept_;
    } else {
      x[i].resize(size_t(H));
      d.embed(x[i].data(), &e.token, 1);
      pos[i] = {s.cache_.length()};
    }
    rows[i] = RequestRows{x[i].data(), int64_t(pos[i].size()), pos[i].data(), &s.cache_, &s.plan_};
  }
  for (auto [l0, l1] : {std::pair{0, P}, std::pair{P, N}}) {
    if (l0 == l1) continue;
    if (l0 == P)
      for (size_t i = 0; i < group.size(); ++i)
        if (group[i]->prompt)
          group[i]->session->choose_plan(x[i].data(), rows[i].T, group[i]->request, *group[i]->report);
    for (const BatchEntry* e : group) e->session->cache_.allocate(e->session->plan_, d.config().num_kv_heads, l0, l1);
    run_layers_batched(d, rows, l0, l1, precision);
  }
  // Every request's last row through the final norm and lm_head in one product.
  const int64_t n = int64_t(group.size()), V = d.vocab();
  std::vector<float> last(size_t(n * H)), normed(size_t(n * H)), logits(size_t(n * V));
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(last.data() + i * H, x[size_t(i)].data() + (rows[size_t(i)].T - 1) * H, size_t(H) * 4);
  d.final_norm(normed.data(), last.data(), n);
  d.lm_head(logits.data(), normed.data(), n, precision);
  for (int64_t i = 0; i < n; ++i) {
    BatchEntry& e = *group[size_t(i)];
    Session& s = *e.session;
    e.logits->assign(logits.begin() + i * V, logits.begin() + (i + 1) * V);
    s.cache_.set_length(s.cache_.length() + rows[size_t(i)].T);
    if (e.prompt) s.end_prefill(rows[size_t(i)].T, rows[size_t(i)].T, *e.report);
  }
}

}  // namespace adallava
